/**
 * The deployment settings' parsing and resolution (deployment-settings.ts) and the Host check's
 * wildcards, as pure functions; server-deployment.spec.ts drives them through real server processes.
 */
import { describe, expect, it } from 'vitest';

import { isHostAllowed } from '../src/api/auth.js';
import { DEFAULT_ALLOWED_ORIGINS } from '../src/app.js';
import {
  MAX_LIST_ENTRIES,
  parseAllowedHost,
  parseCorsOrigin,
  parsePublicUrl,
  parseTrustProxy,
  resolveDeployment,
  unreachableNameNotice
} from '../src/deployment-settings.js';

describe('parseAllowedHost', () => {
  it('takes names, addresses and wildcards, in the spelling the Host check compares', () => {
    expect(parseAllowedHost('Cellflow.Example.org')).toBe(
      'cellflow.example.org'
    );
    expect(parseAllowedHost('box:8443')).toBe('box:8443');
    expect(parseAllowedHost('10.1.2.3')).toBe('10.1.2.3');
    expect(parseAllowedHost('::1')).toBe('[::1]');
    expect(parseAllowedHost('[fd00::5]:443')).toBe('[fd00::5]:443');
    expect(parseAllowedHost('*.team.example.org')).toBe('*.team.example.org');
  });

  it('refuses anything else, naming the setting and the value', () => {
    for (const bad of [
      '',
      'two words',
      'http://x.test',
      'x.test/path',
      '-lead.test',
      'a..b',
      '127.0.0.300',
      'x.test:0',
      'x.test:65536',
      '[not-v6]',
      '*',
      '*.org',
      'a.*.test',
      'x'.repeat(64) + '.test'
    ]) {
      expect(
        () => parseAllowedHost(bad, 'CELLFLOW_ALLOWED_HOSTS'),
        bad
      ).toThrow(
        `CELLFLOW_ALLOWED_HOSTS: ${JSON.stringify(bad)} is not a host name`
      );
    }
  });
});

describe('isHostAllowed with a wildcard', () => {
  it('allows names under the domain only, on the port given if one is', () => {
    const entries = ['*.team.test', '*.ci.test:8443'];
    expect(isHostAllowed('a.team.test', entries)).toBe(true);
    expect(isHostAllowed('a.b.team.test:80', entries)).toBe(true);
    expect(isHostAllowed('team.test', entries)).toBe(false);
    expect(isHostAllowed('evilteam.test', entries)).toBe(false);
    expect(isHostAllowed('.team.test', entries)).toBe(false);
    expect(isHostAllowed('x.ci.test:8443', entries)).toBe(true);
    expect(isHostAllowed('x.ci.test:8444', entries)).toBe(false);
  });
});

describe('parsePublicUrl', () => {
  it('keeps scheme, host, port and path, without a trailing slash', () => {
    expect(parsePublicUrl('https://cellflow.example.org/')).toBe(
      'https://cellflow.example.org'
    );
    expect(parsePublicUrl('http://box:8787/cellflow/')).toBe(
      'http://box:8787/cellflow'
    );
  });

  it('refuses other schemes, credentials, queries and fragments', () => {
    expect(() => parsePublicUrl('cellflow.example.org')).toThrow(
      'is not a URL'
    );
    expect(() => parsePublicUrl('ftp://x.test')).toThrow('http:// or https://');
    expect(() => parsePublicUrl('https://me@x.test')).toThrow('user name');
    expect(() => parsePublicUrl('https://x.test/?')).toThrow('query');
    expect(() => parsePublicUrl('https://x.test/#top')).toThrow('fragment');
    expect(() => parsePublicUrl(`https://x.test/${'a'.repeat(3000)}`)).toThrow(
      'longer than 2048'
    );
  });
});

describe('parseTrustProxy', () => {
  it('is true alone, else a list of addresses, CIDRs and range names', () => {
    expect(parseTrustProxy(true)).toBe(true);
    expect(parseTrustProxy('true')).toBe(true);
    expect(parseTrustProxy('false')).toBe(false);
    expect(
      parseTrustProxy('10.0.0.0/8, 192.168.1.5,loopback,fd00::/8')
    ).toEqual(['10.0.0.0/8', '192.168.1.5', 'loopback', 'fd00::/8']);
  });

  it('refuses what is none of those', () => {
    for (const bad of [
      'proxy.test',
      '10.0.0.0/33',
      '::/129',
      '10.0.0.1/8/8',
      'yes'
    ]) {
      expect(() => parseTrustProxy(bad), bad).toThrow(
        `--trust-proxy: ${JSON.stringify(bad)} is not an IP address`
      );
    }
  });
});

describe('parseCorsOrigin', () => {
  it('takes an origin as browsers spell it', () => {
    expect(parseCorsOrigin('https://Lab.Example.org:443/')).toBe(
      'https://lab.example.org'
    );
    expect(parseCorsOrigin('http://lab.test:8888')).toBe(
      'http://lab.test:8888'
    );
  });

  it('refuses *, paths, queries, users and other schemes', () => {
    expect(() => parseCorsOrigin('*')).toThrow('list each origin');
    for (const bad of [
      'https://lab.test/x',
      'https://lab.test?x=1',
      'https://me@lab.test',
      'lab.test'
    ]) {
      expect(() => parseCorsOrigin(bad), bad).toThrow(
        `--cors-origin: ${JSON.stringify(bad)}`
      );
    }
    expect(() => parseCorsOrigin('file:///tmp')).toThrow('http:// or https://');
  });
});

describe('resolveDeployment', () => {
  it('defaults to loopback, the local lab, no proxy and no public URL', () => {
    expect(resolveDeployment({ host: '127.0.0.1', env: {} })).toEqual({
      allowedHosts: ['127.0.0.1', 'localhost', '[::1]'],
      publicUrl: null,
      trustProxy: false,
      corsOrigins: DEFAULT_ALLOWED_ORIGINS
    });
  });

  it('allows the listen address, the public URL host and the allowed names; not 0.0.0.0', () => {
    const settings = resolveDeployment({
      host: '10.0.0.5',
      publicUrl: 'https://cellflow.example.org:8443',
      allowedHosts: ['box'],
      env: { CELLFLOW_ALLOWED_HOSTS: 'ignored.test' }
    });
    expect(settings.allowedHosts).toEqual([
      '127.0.0.1',
      'localhost',
      '[::1]',
      '10.0.0.5',
      'cellflow.example.org',
      'box'
    ]);
    for (const host of ['0.0.0.0', '::']) {
      expect(resolveDeployment({ host, env: {} }).allowedHosts).toHaveLength(3);
    }
  });

  it('reads every setting from its environment variable when its flag is absent', () => {
    const settings = resolveDeployment({
      host: '0.0.0.0',
      env: {
        CELLFLOW_ALLOWED_HOSTS: 'a.test, *.b.test,',
        CELLFLOW_PUBLIC_URL: 'https://c.test/',
        CELLFLOW_TRUST_PROXY: '10.0.0.0/8',
        CELLFLOW_CORS_ORIGINS: 'https://lab.test,http://lab.test:8888'
      }
    });
    expect(settings).toEqual({
      allowedHosts: [
        '127.0.0.1',
        'localhost',
        '[::1]',
        'c.test',
        'a.test',
        '*.b.test'
      ],
      publicUrl: 'https://c.test',
      trustProxy: ['10.0.0.0/8'],
      corsOrigins: ['https://lab.test', 'http://lab.test:8888']
    });
  });

  it('names the variable of a bad value, and bounds the lists', () => {
    expect(() =>
      resolveDeployment({ host: 'x', env: { CELLFLOW_PUBLIC_URL: 'nope' } })
    ).toThrow('CELLFLOW_PUBLIC_URL: "nope" is not a URL');
    expect(() =>
      resolveDeployment({ host: 'x', env: { CELLFLOW_TRUST_PROXY: 'any' } })
    ).toThrow('CELLFLOW_TRUST_PROXY: "any"');
    const many = Array.from(
      { length: MAX_LIST_ENTRIES + 1 },
      (_, i) => `h${i}.test`
    );
    expect(() =>
      resolveDeployment({
        host: 'x',
        env: { CELLFLOW_ALLOWED_HOSTS: many.join(',') }
      })
    ).toThrow(
      `CELLFLOW_ALLOWED_HOSTS: ${MAX_LIST_ENTRIES + 1} entries; at most ${MAX_LIST_ENTRIES}`
    );
  });
});

describe('unreachableNameNotice', () => {
  it('warns when every address is listened on but only loopback names are answered', () => {
    const notice = (host: string, env: NodeJS.ProcessEnv = {}) =>
      unreachableNameNotice({ host }, resolveDeployment({ host, env }));
    expect(notice('0.0.0.0')).toContain('--allowed-host NAME');
    expect(notice('::')).toContain('--public-url URL');
    expect(notice('0.0.0.0', { CELLFLOW_ALLOWED_HOSTS: 'box' })).toBeNull();
    expect(
      notice('0.0.0.0', { CELLFLOW_PUBLIC_URL: 'https://c.test' })
    ).toBeNull();
    expect(notice('127.0.0.1')).toBeNull();
    expect(notice('10.0.0.5')).toBeNull();
  });
});

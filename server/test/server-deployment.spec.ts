/**
 * `cellflow server` reached by a name (issue 17, deployment settings): real server processes bound to
 * 127.0.0.2, which Linux routes over loopback, asked by a name other than an address they listen on
 * (the Host header a client sends when DNS or a proxy brought it there).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  BIN,
  ROOT,
  cellflow,
  createKey,
  startPrinting,
  startServer,
  stopChild,
  type ServerChild
} from './support/cli-child.js';
import { rawRequest } from './support/http.js';

const NAME = 'cellflow-team.test';
const HOST = '127.0.0.2';
const TEAM_LAB = 'https://lab.cellflow-team.test';

const folders: string[] = [];
const children: ServerChild[] = [];

function folder(prefix: string): string {
  const path = mkdtempSync(join(tmpdir(), `cellflow-deploy-${prefix}-`));
  folders.push(path);
  return path;
}

async function start(args: string[]): Promise<ServerChild> {
  const server = await startServer(folder('data'), [
    '--host',
    HOST,
    '--warm-kernels',
    '0',
    ...args
  ]);
  children.push(server);
  return server;
}

/** The port a server printed (its URL is http://127.0.0.2:PORT). */
const portOf = (server: ServerChild) => new URL(server.url).port;

let named: ServerChild;
let bare: ServerChild;
let proxied: ServerChild;
let key: string;
let proxiedKey: string;

beforeAll(async () => {
  [named, bare, proxied] = await Promise.all([
    start([
      '--allowed-host',
      NAME,
      '--public-url',
      'https://cellflow.example.org/',
      '--cors-origin',
      TEAM_LAB
    ]),
    start(['--failed-auth-limit', '2']),
    start([
      '--allowed-host',
      NAME,
      '--trust-proxy',
      'loopback',
      '--failed-auth-limit',
      '2'
    ])
  ]);
  const config = folder('config');
  [key, proxiedKey] = await Promise.all([
    createKey(named, 'team', config),
    createKey(proxied, 'team', config)
  ]);
}, 300_000);

afterAll(async () => {
  await Promise.all(children.map(child => stopChild(child.process)));
  for (const path of folders) {
    rmSync(path, { recursive: true, force: true });
  }
});

describe('--allowed-host', () => {
  it('answers a client that reaches 127.0.0.2 by the allowed name, with its key', async () => {
    const me = await rawRequest(named.url, '/api/me', {
      host: `${NAME}:${portOf(named)}`,
      authorization: `Bearer ${key}`
    });
    expect(me.status).toBe(200);
    expect(me.body.workspace.name).toBe('team');
    // The address it listens on is allowed by itself; loopback names still are.
    for (const host of [`${HOST}:${portOf(named)}`, 'localhost']) {
      const res = await rawRequest(named.url, '/api/me', {
        host,
        authorization: `Bearer ${key}`
      });
      expect(res.status, host).toBe(200);
    }
  });

  it('refuses other names with a 403 that names the setting to use', async () => {
    const res = await rawRequest(named.url, '/api/health', {
      host: `other.test:${portOf(named)}`
    });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      error: 'forbidden',
      setting: '--allowed-host'
    });
    expect(res.body.message).toContain('--allowed-host other.test');
  });

  it('without it, the name gets 403 naming --allowed-host and CELLFLOW_ALLOWED_HOSTS', async () => {
    const res = await rawRequest(bare.url, '/api/health', {
      host: `${NAME}:${portOf(bare)}`
    });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('forbidden');
    expect(res.body.message).toContain(`--allowed-host ${NAME}`);
    expect(res.body.message).toContain(`CELLFLOW_ALLOWED_HOSTS=${NAME}`);
    // Its own address still answers.
    const own = await rawRequest(bare.url, '/api/health', {
      host: `${HOST}:${portOf(bare)}`
    });
    expect(own.status).toBe(200);
  });

  it(
    'is read from CELLFLOW_ALLOWED_HOSTS, wildcards included',
    { timeout: 180_000 },
    async () => {
      const dataDir = folder('env');
      const { process: child, match } = await startPrinting(
        process.execPath,
        [
          BIN,
          'server',
          '--host',
          HOST,
          '--port',
          '0',
          '--warm-kernels',
          '0',
          '--data-dir',
          dataDir
        ],
        /listening on (http:\/\/\S+)/,
        {
          ...process.env,
          VIRTUAL_ENV: join(ROOT, '.venv'),
          CELLFLOW_ALLOWED_HOSTS: `${NAME}, *.team.test`
        }
      );
      const server: ServerChild = { process: child, url: match[1], dataDir };
      children.push(server);
      const status = async (host: string) =>
        (await rawRequest(server.url, '/api/health', { host })).status;
      expect(await status(`${NAME}:${portOf(server)}`)).toBe(200);
      expect(await status('ci.team.test')).toBe(200);
      expect(await status('a.b.team.test:443')).toBe(200);
      expect(await status('team.test')).toBe(403);
      expect(await status('evilteam.test')).toBe(403);
    }
  );

  it(
    'refuses bad values at start, naming the setting and the value, leaving nothing behind',
    { timeout: 180_000 },
    async () => {
      const cases: [string[], Record<string, string>, string][] = [
        [['--allowed-host', 'bad name'], {}, '--allowed-host: "bad name"'],
        [
          ['--allowed-host', 'a.test:99999'],
          {},
          '--allowed-host: "a.test:99999"'
        ],
        [['--allowed-host', '*.org'], {}, '--allowed-host: "*.org"'],
        [
          [],
          { CELLFLOW_ALLOWED_HOSTS: 'ok.test,-bad' },
          'CELLFLOW_ALLOWED_HOSTS: "-bad"'
        ],
        [
          ['--public-url', 'ftp://files.test'],
          {},
          '--public-url: "ftp://files.test"'
        ],
        [['--public-url', 'https://u:p@c.test'], {}, 'user name or password'],
        [['--public-url', 'https://c.test/?a=1'], {}, 'query'],
        [['--trust-proxy', '10.0.0.0/33'], {}, '--trust-proxy: "10.0.0.0/33"'],
        [['--cors-origin', '*'], {}, 'list each origin'],
        [['--cors-origin', 'https://lab.test/path'], {}, 'without a path'],
        [
          [],
          { CELLFLOW_CORS_ORIGINS: 'lab.test' },
          'CELLFLOW_CORS_ORIGINS: "lab.test"'
        ]
      ];
      for (const [args, env, message] of cases) {
        const dataDir = join(folder('refused'), 'data');
        const result = await cellflow(
          ['server', '--port', '0', '--data-dir', dataDir, ...args],
          env
        );
        expect(result.code, args.join(' ')).toBe(1);
        expect(result.stderr).toContain(message);
        expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
        expect(existsSync(dataDir)).toBe(false);
      }
    }
  );
});

describe('--public-url', () => {
  it('is served at /api/server and in the OpenAPI servers, and its host is allowed', async () => {
    const info = await rawRequest(named.url, '/api/server', {
      host: 'cellflow.example.org'
    });
    expect(info.status).toBe(200);
    expect(info.body).toEqual({
      version: expect.any(String),
      publicUrl: 'https://cellflow.example.org'
    });
    const doc = await rawRequest(named.url, '/api/openapi.json', {
      host: HOST
    });
    expect(doc.body.servers).toEqual([{ url: 'https://cellflow.example.org' }]);
    const plain = await rawRequest(bare.url, '/api/server', { host: HOST });
    expect(plain.body.publicUrl).toBeNull();
    expect(
      (await rawRequest(bare.url, '/api/openapi.json', { host: HOST })).body
        .servers
    ).toBeUndefined();
  });
});

describe('--trust-proxy', () => {
  it("checks the proxy's X-Forwarded-Host, not the Host it used upstream", async () => {
    const res = await rawRequest(proxied.url, '/api/me', {
      host: `cellflow-upstream.internal:${portOf(proxied)}`,
      'x-forwarded-host': NAME,
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '203.0.113.7',
      authorization: `Bearer ${proxiedKey}`
    });
    expect(res.status).toBe(200);
    const foreign = await rawRequest(proxied.url, '/api/health', {
      host: `${NAME}:${portOf(proxied)}`,
      'x-forwarded-host': 'rebound.evil.test'
    });
    expect(foreign.status).toBe(403);
    expect(foreign.body.message).toContain('rebound.evil.test');
  });

  it('ignores X-Forwarded-Host when no proxy is trusted', async () => {
    const res = await rawRequest(bare.url, '/api/health', {
      host: `${HOST}:${portOf(bare)}`,
      'x-forwarded-host': 'rebound.evil.test'
    });
    expect(res.status).toBe(200);
    const spoofed = await rawRequest(bare.url, '/api/health', {
      host: 'rebound.evil.test',
      'x-forwarded-host': HOST
    });
    expect(spoofed.status).toBe(403);
  });

  it('counts failed authentications by the forwarded client address', async () => {
    const attempt = (client: string) =>
      rawRequest(proxied.url, '/api/me', {
        host: NAME,
        'x-forwarded-for': client,
        authorization: 'Bearer cf_wrong'
      });
    expect((await attempt('203.0.113.1')).status).toBe(401);
    expect((await attempt('203.0.113.1')).status).toBe(401);
    const limited = await attempt('203.0.113.1');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    // Another client behind the same proxy is not held up by the first one's failures.
    expect((await attempt('203.0.113.2')).status).toBe(401);
    const ok = await rawRequest(proxied.url, '/api/me', {
      host: NAME,
      'x-forwarded-for': '203.0.113.3',
      authorization: `Bearer ${proxiedKey}`
    });
    expect(ok.status).toBe(200);
  });

  it('without it, a client cannot escape the limit by sending X-Forwarded-For', async () => {
    const attempt = (client: string) =>
      rawRequest(bare.url, '/api/me', {
        host: HOST,
        'x-forwarded-for': client,
        authorization: 'Bearer cf_wrong'
      });
    expect((await attempt('198.51.100.1')).status).toBe(401);
    expect((await attempt('198.51.100.2')).status).toBe(401);
    expect((await attempt('198.51.100.3')).status).toBe(429);
  });
});

describe('--cors-origin', () => {
  const preflight = (server: ServerChild, origin: string) =>
    rawRequest(
      server.url,
      '/api/flows',
      {
        host: HOST,
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type'
      },
      'OPTIONS'
    );

  it('allows the given origin instead of the local lab', async () => {
    const team = await preflight(named, TEAM_LAB);
    expect(team.status).toBe(204);
    expect(team.headers['access-control-allow-origin']).toBe(TEAM_LAB);
    for (const origin of ['http://localhost:8888', 'https://evil.test']) {
      const refused = await preflight(named, origin);
      expect(refused.headers['access-control-allow-origin'], origin).toBe(
        undefined
      );
    }
  });

  it("keeps the local lab's origin when none is given", async () => {
    const lab = await preflight(bare, 'http://localhost:8888');
    expect(lab.headers['access-control-allow-origin']).toBe(
      'http://localhost:8888'
    );
    const team = await preflight(bare, TEAM_LAB);
    expect(team.headers['access-control-allow-origin']).toBeUndefined();
  });
});

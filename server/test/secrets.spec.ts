/**
 * Workspace secrets below the API: the SecretBox (AES-256-GCM bound to workspace and name), the key's
 * loading (env, key file made 0600, refusals naming the file), the name and value rules, and the
 * service over a real PGlite store, whose files on disk never hold a value or the key.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  SecretBox,
  SecretDecryptError,
  SecretKeyError,
  loadSecretKey,
  loadSecretKeyDetails
} from '../src/secrets/secret-box.js';
import {
  InvalidSecretError,
  WorkspaceSecrets,
  checkSecretName,
  checkSecretValue,
  openWorkspaceSecrets
} from '../src/secrets/workspace-secrets.js';
import { openPgliteStore } from '../src/store/index.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellflow-secrets-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

const WS = '1b1e0c2a-4a0c-4d59-9a51-8c0f5f7b8e01';
const box = () => new SecretBox(randomBytes(32));

/** Flips one bit of one base64 part (1 iv, 2 tag, 3 ciphertext) of a sealed value. */
function tamper(sealed: string, part: 1 | 2 | 3): string {
  const parts = sealed.split(':');
  const bytes = Buffer.from(parts[part], 'base64');
  bytes[0] ^= 1;
  parts[part] = bytes.toString('base64');
  return parts.join(':');
}

describe('SecretBox', () => {
  it('round-trips values in the v1 format, with a fresh IV each time', () => {
    const b = box();
    for (const value of [
      'x',
      'hunter2',
      'Zoë "quoted" \'single\' $HOME `tick`',
      '-----BEGIN KEY-----\nabc\n-----END KEY-----\n',
      '🔑'.repeat(1000)
    ]) {
      const sealed = b.seal(WS, 'TOKEN', value);
      expect(sealed).toMatch(
        /^v1:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/]+=*$/
      );
      if (value.length > 4) {
        expect(sealed).not.toContain(value);
      }
      expect(b.open(WS, 'TOKEN', sealed)).toBe(value);
    }
    const one = b.seal(WS, 'TOKEN', 'same');
    const two = b.seal(WS, 'TOKEN', 'same');
    expect(one.split(':')[1]).not.toBe(two.split(':')[1]);
    expect(one).not.toBe(two);
  });

  it('refuses a tampered value, another row (workspace or name), another key and a bad format', () => {
    const b = box();
    const sealed = b.seal(WS, 'TOKEN', 'the value');
    const refusals = [
      () => b.open(WS, 'TOKEN', tamper(sealed, 1)),
      () => b.open(WS, 'TOKEN', tamper(sealed, 2)),
      () => b.open(WS, 'TOKEN', tamper(sealed, 3)),
      () => b.open(WS, 'OTHER', sealed),
      () => b.open(randomUUID(), 'TOKEN', sealed),
      () => box().open(WS, 'TOKEN', sealed),
      () => b.open(WS, 'TOKEN', sealed.replace(/^v1/, 'v2')),
      () => b.open(WS, 'TOKEN', sealed.split(':').slice(0, 3).join(':')),
      () => b.open(WS, 'TOKEN', 'not a sealed value'),
      () => b.open(WS, 'TOKEN', sealed.replace(/:([^:]+)$/, ':%%%%'))
    ];
    for (const refuse of refusals) {
      expect(refuse).toThrow(SecretDecryptError);
      try {
        refuse();
      } catch (error) {
        const message = (error as Error).message;
        expect(message).toContain('Secret ');
        expect(message).not.toContain('the value');
        expect(message).not.toContain(sealed);
      }
    }
    expect(() => b.open(WS, 'OTHER', sealed)).toThrow(
      `Secret OTHER of workspace ${WS} cannot be decrypted`
    );
  });

  it('takes a 32-byte key only', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow(SecretKeyError);
    expect(() => new SecretBox(randomBytes(33))).toThrow(SecretKeyError);
  });
});

describe('loadSecretKey', () => {
  it('makes <dataDir>/secrets.key with 32 random bytes at mode 0600, then reuses it', async () => {
    const dataDir = join(tempDir(), 'data');
    const first = await loadSecretKeyDetails({ dataDir, env: {} });
    const file = join(dataDir, 'secrets.key');
    expect(first).toMatchObject({ source: file, created: true });
    expect(first.key).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file).equals(first.key)).toBe(true);
    const again = await loadSecretKeyDetails({ dataDir, env: {} });
    expect(again.created).toBe(false);
    expect(again.key.equals(first.key)).toBe(true);
    // A second data directory gets its own key.
    const other = await loadSecretKey({ dataDir: tempDir(), env: {} });
    expect(other.equals(first.key)).toBe(false);
  });

  it('gives concurrent first loads one key', async () => {
    const dataDir = tempDir();
    const keys = await Promise.all(
      Array.from({ length: 8 }, () => loadSecretKey({ dataDir, env: {} }))
    );
    for (const key of keys) {
      expect(key.equals(keys[0])).toBe(true);
    }
  });

  it('prefers CELLFLOW_SECRETS_KEY, then the keyFile option, then CELLFLOW_SECRETS_KEY_FILE', async () => {
    const dataDir = tempDir();
    const envKey = randomBytes(32);
    const fromEnv = await loadSecretKeyDetails({
      dataDir,
      keyFile: join(dataDir, 'never-made.key'),
      env: { CELLFLOW_SECRETS_KEY: envKey.toString('base64') }
    });
    expect(fromEnv).toMatchObject({
      source: 'CELLFLOW_SECRETS_KEY',
      created: false
    });
    expect(fromEnv.key.equals(envKey)).toBe(true);
    expect(readdirSync(dataDir)).toEqual([]);

    const optionFile = join(dataDir, 'option.key');
    const envFile = join(dataDir, 'env.key');
    const viaOption = await loadSecretKeyDetails({
      dataDir,
      keyFile: optionFile,
      env: { CELLFLOW_SECRETS_KEY_FILE: envFile }
    });
    expect(viaOption.source).toBe(optionFile);
    const viaEnv = await loadSecretKeyDetails({
      dataDir,
      env: { CELLFLOW_SECRETS_KEY_FILE: envFile }
    });
    expect(viaEnv.source).toBe(envFile);
    expect(readdirSync(dataDir).sort()).toEqual(['env.key', 'option.key']);
  });

  it('refuses a malformed CELLFLOW_SECRETS_KEY without repeating it', async () => {
    for (const bad of [
      randomBytes(16).toString('base64'),
      randomBytes(32).toString('hex'),
      'not base64 at all!!'
    ]) {
      const load = loadSecretKey({
        dataDir: tempDir(),
        env: { CELLFLOW_SECRETS_KEY: bad }
      });
      await expect(load).rejects.toBeInstanceOf(SecretKeyError);
      await expect(load).rejects.toThrow(
        'CELLFLOW_SECRETS_KEY must be the base64 of 32 random bytes'
      );
      await load.catch(error =>
        expect((error as Error).message).not.toContain(bad)
      );
    }
  });

  it('refuses a key file group or others can read, or of the wrong length, naming the file', async () => {
    const dir = tempDir();
    const open = join(dir, 'open.key');
    writeFileSync(open, randomBytes(32));
    chmodSync(open, 0o644);
    await expect(
      loadSecretKey({ dataDir: dir, keyFile: open, env: {} })
    ).rejects.toThrow(
      `The secrets key file ${open} can be accessed by group or others (mode 0644)`
    );
    chmodSync(open, 0o640);
    await expect(
      loadSecretKey({ dataDir: dir, keyFile: open, env: {} })
    ).rejects.toBeInstanceOf(SecretKeyError);

    const short = join(dir, 'short.key');
    writeFileSync(short, randomBytes(31), { mode: 0o600 });
    await expect(
      loadSecretKey({ dataDir: dir, keyFile: short, env: {} })
    ).rejects.toThrow(
      `The secrets key file ${short} is 31 bytes; a key is 32 bytes`
    );

    // The base64 text `openssl rand -base64 32` writes is taken too.
    const text = join(dir, 'text.key');
    const key = randomBytes(32);
    writeFileSync(text, key.toString('base64') + '\n', { mode: 0o600 });
    expect(
      (await loadSecretKey({ dataDir: dir, keyFile: text, env: {} })).equals(
        key
      )
    ).toBe(true);
  });
});

describe('secret names and values', () => {
  it('takes environment variable names that are not reserved', () => {
    for (const name of [
      'TOKEN',
      'api_key',
      '_PRIVATE',
      'A1',
      'X'.repeat(128),
      'MY_PATH',
      'PYPI_TOKEN',
      'HOMEPAGE_KEY'
    ]) {
      expect(checkSecretName(name), name).toBeNull();
    }
    for (const name of [
      '',
      '1ABC',
      'A-B',
      'A B',
      'A.B',
      'É',
      'X'.repeat(129),
      'A=B'
    ]) {
      expect(checkSecretName(name), name).toMatch(/environment variable name/);
    }
    expect(checkSecretName(7)).toMatch(/environment variable name/);
    for (const name of [
      'PATH',
      'path',
      'HOME',
      'TMPDIR',
      'TMP',
      'TEMP',
      'PWD',
      'SHELL',
      'USER',
      'LOGNAME',
      'LANG',
      'TZ',
      'IPYTHONDIR',
      'LC_ALL',
      'CELLFLOW_API_KEY',
      'JPY_SESSION_NAME',
      'LD_PRELOAD',
      'PYTHONPATH',
      'PYTHON_TOKEN',
      'BASH_FUNC_x'
    ]) {
      expect(checkSecretName(name), name).toMatch(/is reserved/);
    }
  });

  it('takes non-empty strings up to 64 KiB without NUL', () => {
    expect(checkSecretValue('x')).toBeNull();
    expect(checkSecretValue('a'.repeat(65_536))).toBeNull();
    expect(checkSecretValue('é'.repeat(32_768))).toBeNull();
    expect(checkSecretValue('line 1\nline 2\r\n\ttab')).toBeNull();
    expect(checkSecretValue('')).toMatch(/must not be empty/);
    expect(checkSecretValue('a'.repeat(65_537))).toMatch(
      /at most 65536 bytes \(this one is 65537\)/
    );
    expect(checkSecretValue('é'.repeat(32_769))).toMatch(/at most 65536 bytes/);
    expect(checkSecretValue('a\0b')).toMatch(/NUL/);
    expect(checkSecretValue('\uD800x')).toMatch(/valid Unicode/);
    expect(checkSecretValue(42)).toMatch(/must be a string/);
    expect(checkSecretValue(null)).toMatch(/must be a string/);
  });
});

describe('WorkspaceSecrets on an embedded store', () => {
  it('sets, lists, replaces, deletes and decrypts per workspace; refuses bad names and values', async () => {
    const dataDir = join(tempDir(), 'data');
    const store = await openPgliteStore(dataDir);
    try {
      const secrets = await openWorkspaceSecrets({ store, dataDir, env: {} });
      const a = await store.ensureWorkspace('a');
      const b = await store.ensureWorkspace('b');
      expect(await secrets.set(a.id, 'TOKEN', 'first')).toMatchObject({
        name: 'TOKEN',
        created: true
      });
      expect(await secrets.set(a.id, 'TOKEN', 'second')).toMatchObject({
        created: false
      });
      await secrets.set(a.id, 'API_URL', 'https://example.test');
      await secrets.set(b.id, 'TOKEN', 'b-value');
      expect((await secrets.list(a.id)).map(s => s.name)).toEqual([
        'API_URL',
        'TOKEN'
      ]);
      expect(JSON.stringify(await secrets.list(a.id))).not.toContain('second');
      expect(await secrets.envFor(a.id)).toEqual({
        API_URL: 'https://example.test',
        TOKEN: 'second'
      });
      expect(await secrets.envFor(b.id)).toEqual({ TOKEN: 'b-value' });

      await expect(secrets.set(a.id, 'PATH', 'x')).rejects.toMatchObject({
        field: 'name'
      });
      await expect(secrets.set(a.id, 'OK', '')).rejects.toMatchObject({
        field: 'value'
      });
      await expect(secrets.set(a.id, 'OK', 'a\0b')).rejects.toBeInstanceOf(
        InvalidSecretError
      );
      await expect(secrets.delete(a.id, 'no-such')).rejects.toMatchObject({
        field: 'name'
      });

      expect(await secrets.delete(b.id, 'API_URL')).toBe(false);
      expect(await secrets.delete(a.id, 'API_URL')).toBe(true);
      expect(await secrets.envFor(a.id)).toEqual({ TOKEN: 'second' });

      // The same store with another key: the values are there but do not decrypt.
      const otherKey = new WorkspaceSecrets(
        store,
        new SecretBox(randomBytes(32))
      );
      expect((await otherKey.list(a.id)).map(s => s.name)).toEqual(['TOKEN']);
      await expect(otherKey.envFor(a.id)).rejects.toThrow(
        `Secret TOKEN of workspace ${a.id} cannot be decrypted`
      );
      // A's ciphertext copied into B's row (a database edit) does not decrypt there.
      const [sealed] = await store.getSecretCiphertexts(a.id);
      await store.putSecret(b.id, 'TOKEN', sealed.ciphertext);
      await expect(secrets.envFor(b.id)).rejects.toBeInstanceOf(
        SecretDecryptError
      );
    } finally {
      await store.close();
    }
  });

  it('never writes a value, its base64 or the key to the database files', async () => {
    const dataDir = join(tempDir(), 'data');
    const value = `cellflow-distinctive-${randomUUID()}-value`;
    const name = `DISTINCTIVE_${randomUUID().replace(/-/g, '_')}`;
    let key: Buffer;
    const store = await openPgliteStore(dataDir);
    try {
      const secrets = await openWorkspaceSecrets({ store, dataDir, env: {} });
      const ws = await store.ensureWorkspace('disk');
      await secrets.set(ws.id, name, value);
      await secrets.set(ws.id, `${name}_2`, value);
      expect((await secrets.envFor(ws.id))[name]).toBe(value);
      key = await loadSecretKey({ dataDir, env: {} });
    } finally {
      await store.close();
    }
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          walk(path);
        } else if (entry.isFile() && path !== join(dataDir, 'secrets.key')) {
          files.push(path);
        }
      }
    };
    walk(dataDir);
    const needles = {
      value: Buffer.from(value),
      'value in base64': Buffer.from(Buffer.from(value).toString('base64')),
      key,
      'key in base64': Buffer.from(key.toString('base64')),
      'key in hex': Buffer.from(key.toString('hex'))
    };
    let sawName = false;
    for (const file of files) {
      const content = readFileSync(file);
      sawName ||= content.includes(Buffer.from(name));
      for (const [label, needle] of Object.entries(needles)) {
        expect(content.includes(needle), `${label} in ${file}`).toBe(false);
      }
    }
    // The rows did reach the disk (the name is stored as is), so the search above is not vacuous.
    expect(files.length).toBeGreaterThan(10);
    expect(sawName).toBe(true);
  });
});

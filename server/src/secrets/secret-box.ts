/**
 * Encryption at rest for workspace secrets: AES-256-GCM with a random 12-byte IV per value and the
 * workspace id and secret name as associated data, so a ciphertext copied to another row (or another
 * workspace) does not decrypt. Stored as `v1:<base64 iv>:<base64 tag>:<base64 ciphertext>`.
 *
 * The 32-byte key lives apart from the store: CELLFLOW_SECRETS_KEY (base64), else a key file (by
 * default `<dataDir>/secrets.key`, created on first use, owner-only). A copy of the database alone
 * reveals no value; losing the key loses the secrets (they can be set again).
 */
import {
  createCipheriv,
  createDecipheriv,
  randomBytes,
  timingSafeEqual
} from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

export const SECRET_KEY_BYTES = 32;
export const DEFAULT_SECRET_KEY_FILE = 'secrets.key';
export const SECRET_KEY_ENV = 'CELLFLOW_SECRETS_KEY';
export const SECRET_KEY_FILE_ENV = 'CELLFLOW_SECRETS_KEY_FILE';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The key could not be loaded or made: its message names the variable or file and what to do. */
export class SecretKeyError extends Error {
  readonly code = 'SECRET_KEY';
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

/** A stored value did not decrypt: tampered, copied from another row, or sealed with another key. */
export class SecretDecryptError extends Error {
  readonly code = 'SECRET_DECRYPT';
  constructor(message: string) {
    super(message);
    this.name = 'SecretDecryptError';
  }
}

/** What the value is bound to; JSON, so no id and name can run into another pair's. */
function associatedData(workspaceId: string, name: string): Buffer {
  return Buffer.from(JSON.stringify(['cellflow-secret', workspaceId, name]));
}

function strictBase64(text: string): Buffer | null {
  if (!BASE64.test(text) || text.length % 4 !== 0) {
    return null;
  }
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (!Buffer.isBuffer(key) || key.length !== SECRET_KEY_BYTES) {
      throw new SecretKeyError(
        `A secrets key is ${SECRET_KEY_BYTES} bytes, got ${Buffer.isBuffer(key) ? key.length : typeof key}`
      );
    }
    this.#key = Buffer.from(key);
  }

  seal(workspaceId: string, name: string, value: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.#key, iv, {
      authTagLength: TAG_BYTES
    });
    cipher.setAAD(associatedData(workspaceId, name));
    const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv, tag, ct].map(p => p.toString('base64')).join(':');
  }

  /** The value, or SecretDecryptError (which never contains key, ciphertext or value). */
  open(workspaceId: string, name: string, sealed: string): string {
    const parts = typeof sealed === 'string' ? sealed.split(':') : [];
    const refuse = (why: string) =>
      new SecretDecryptError(
        `Secret ${name} of workspace ${workspaceId} cannot be decrypted: ${why}`
      );
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw refuse(`it is not in the ${VERSION} format`);
    }
    const [iv, tag, ct] = parts.slice(1).map(strictBase64);
    if (
      !iv ||
      !tag ||
      !ct ||
      iv.length !== IV_BYTES ||
      tag.length !== TAG_BYTES
    ) {
      throw refuse(`it is not in the ${VERSION} format`);
    }
    const decipher = createDecipheriv(ALGORITHM, this.#key, iv, {
      authTagLength: TAG_BYTES
    });
    decipher.setAAD(associatedData(workspaceId, name));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString(
        'utf8'
      );
    } catch {
      throw refuse(
        'it was changed, belongs to another secret, or was set with another secrets key ' +
          `(${SECRET_KEY_ENV} or the key file); set it again`
      );
    }
  }

  /** True when both boxes hold the same key (tests, diagnostics); never exposes it. */
  sameKey(other: SecretBox): boolean {
    return timingSafeEqual(this.#key, other.#key);
  }
}

export interface LoadSecretKeyOptions {
  /** The key file (`--secrets-key-file`); else CELLFLOW_SECRETS_KEY_FILE, else `<dataDir>/secrets.key`. */
  keyFile?: string;
  env?: NodeJS.ProcessEnv;
  dataDir: string;
}

export interface LoadedSecretKey {
  key: Buffer;
  /** Where it came from: `CELLFLOW_SECRETS_KEY`, or the key file's path. */
  source: string;
  /** True when this call made the key file. */
  created: boolean;
}

/** The key file this configuration uses (it may not exist yet). */
export function secretKeyFile(options: LoadSecretKeyOptions): string {
  const env = options.env ?? process.env;
  return resolve(
    options.keyFile ||
      env[SECRET_KEY_FILE_ENV] ||
      join(options.dataDir, DEFAULT_SECRET_KEY_FILE)
  );
}

/**
 * The secrets key: CELLFLOW_SECRETS_KEY (base64 of 32 bytes) when set, else the key file, made with 32
 * random bytes at mode 0600 when missing. A key file that group or others can access, or that is not
 * 32 bytes (or their base64), is refused with an error naming it.
 */
export async function loadSecretKeyDetails(
  options: LoadSecretKeyOptions
): Promise<LoadedSecretKey> {
  const env = options.env ?? process.env;
  const fromEnv = env[SECRET_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const key = strictBase64(fromEnv.trim());
    if (!key || key.length !== SECRET_KEY_BYTES) {
      // Never the value itself: it is (meant to be) the key.
      throw new SecretKeyError(
        `${SECRET_KEY_ENV} must be the base64 of ${SECRET_KEY_BYTES} random bytes ` +
          '(make one with `openssl rand -base64 32`)'
      );
    }
    return { key, source: SECRET_KEY_ENV, created: false };
  }
  const file = secretKeyFile(options);
  const made = await createKeyFile(file);
  if (made) {
    return { key: made, source: file, created: true };
  }
  return { key: await readKeyFile(file), source: file, created: false };
}

export async function loadSecretKey(
  options: LoadSecretKeyOptions
): Promise<Buffer> {
  return (await loadSecretKeyDetails(options)).key;
}

/** Makes the key file if it does not exist (`wx`: never over another's); null when it did exist. */
async function createKeyFile(file: string): Promise<Buffer | null> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return null;
    }
    throw new SecretKeyError(
      `Cannot create the secrets key file ${file}: ${(error as Error).message}`
    );
  }
  const key = randomBytes(SECRET_KEY_BYTES);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(key);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return key;
}

async function readKeyFile(file: string): Promise<Buffer> {
  // Another process may have just made it with `wx` and not yet written it: wait a little for that.
  for (let tries = 0; ; tries++) {
    let info;
    try {
      info = await stat(file);
    } catch (error) {
      throw new SecretKeyError(
        `Cannot read the secrets key file ${file}: ${(error as Error).message}`
      );
    }
    if (!info.isFile()) {
      throw new SecretKeyError(
        `The secrets key file ${file} is not a regular file`
      );
    }
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new SecretKeyError(
        `The secrets key file ${file} can be accessed by group or others ` +
          `(mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}); ` +
          `make it owner-only with \`chmod 600 ${file}\`, or use another key`
      );
    }
    if (info.size === 0 && tries < 40) {
      await new Promise(done => setTimeout(done, 50));
      continue;
    }
    const bytes = await readFile(file);
    if (bytes.length === SECRET_KEY_BYTES) {
      return bytes;
    }
    // Also take a key written as base64 text (`openssl rand -base64 32 > secrets.key`).
    const decoded = strictBase64(bytes.toString('latin1').trim());
    if (decoded && decoded.length === SECRET_KEY_BYTES) {
      return decoded;
    }
    throw new SecretKeyError(
      `The secrets key file ${file} is ${bytes.length} bytes; a key is ${SECRET_KEY_BYTES} bytes ` +
        `(or their base64). Restore the right file, or move it away to make a new key ` +
        '(secrets set with the old key must then be set again)'
    );
  }
}

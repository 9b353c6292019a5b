/**
 * Workspace secrets: NAME → value, for a workspace's kernels (as environment variables) so users never
 * paste tokens into notebooks. Values are checked here, sealed with the SecretBox, and only their
 * ciphertext reaches the store; listings give names and times, never values.
 */
import { checkSecretName } from '../../../src/flow/secret-names.js';
import type { SecretInfo, Store } from '../store/store.js';
import {
  SecretBox,
  loadSecretKey,
  type LoadSecretKeyOptions
} from './secret-box.js';

export {
  SECRET_NAME_PATTERN,
  RESERVED_SECRET_NAMES,
  RESERVED_SECRET_PREFIXES,
  checkSecretName
} from '../../../src/flow/secret-names.js';

export const MAX_SECRET_VALUE_BYTES = 65_536;
// Half a UTF-16 pair: it has no UTF-8 form, so it would not come back as it was set.
const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `value` cannot be a secret's value, or null when it can. Never repeats the value. */
export function checkSecretValue(value: unknown): string | null {
  if (typeof value !== 'string') {
    return 'A secret value must be a string';
  }
  if (value === '') {
    return 'A secret value must not be empty';
  }
  if (value.includes('\0')) {
    return 'A secret value must not contain a NUL character (environment variables cannot hold one)';
  }
  if (LONE_SURROGATE.test(value)) {
    return 'A secret value must be valid Unicode text';
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_SECRET_VALUE_BYTES) {
    return `A secret value must be at most ${MAX_SECRET_VALUE_BYTES} bytes (this one is ${bytes})`;
  }
  return null;
}

/** A name or value refused by the checks above; `field` is `name` or `value`. */
export class InvalidSecretError extends Error {
  readonly code = 'INVALID_SECRET';
  constructor(
    readonly field: 'name' | 'value',
    message: string
  ) {
    super(message);
    this.name = 'InvalidSecretError';
  }
}

export function requireSecretName(name: unknown): string {
  const problem = checkSecretName(name);
  if (problem) {
    throw new InvalidSecretError('name', problem);
  }
  return name as string;
}

export class WorkspaceSecrets {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox
  ) {}

  /** Sets or replaces the secret (`created` says which). InvalidSecretError for a bad name or value. */
  async set(
    workspaceId: string,
    name: string,
    value: string
  ): Promise<SecretInfo & { created: boolean }> {
    requireSecretName(name);
    const problem = checkSecretValue(value);
    if (problem) {
      throw new InvalidSecretError('value', problem);
    }
    return this.store.putSecret(
      workspaceId,
      name,
      this.box.seal(workspaceId, name, value)
    );
  }

  /**
   * Seals another value the workspace keeps secret (a notification's destination) with the secrets
   * key, bound to the workspace and `scope`; `scope` holds a ':' so it can never be a secret's name.
   */
  sealValue(workspaceId: string, scope: string, value: string): string {
    return this.box.seal(workspaceId, scope, value);
  }

  /** Opens what sealValue sealed (SecretDecryptError if it was sealed elsewhere or changed). */
  openValue(workspaceId: string, scope: string, sealed: string): string {
    return this.box.open(workspaceId, scope, sealed);
  }

  /** Names and times, by name; never values. */
  list(workspaceId: string): Promise<SecretInfo[]> {
    return this.store.listSecrets(workspaceId);
  }

  /** False when the workspace has no secret of that name. InvalidSecretError for a bad name. */
  async delete(workspaceId: string, name: string): Promise<boolean> {
    requireSecretName(name);
    return this.store.deleteSecret(workspaceId, name);
  }

  /**
   * The workspace's secrets decrypted, NAME → value, for a kernel's environment. A value that does
   * not decrypt (another key, a changed row) fails the whole call with SecretDecryptError naming it.
   */
  async envFor(workspaceId: string): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const { name, ciphertext } of await this.store.getSecretCiphertexts(
      workspaceId
    )) {
      env[name] = this.box.open(workspaceId, name, ciphertext);
    }
    return env;
  }
}

export interface OpenWorkspaceSecretsOptions {
  store: Store;
  /** The server's data directory: the default key file is `<dataDir>/secrets.key`. */
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  /** `--secrets-key-file`; see loadSecretKey for the order. */
  keyFile?: string;
}

/** The secrets service over `store`, with the key loaded (or made) as loadSecretKey says. */
export async function openWorkspaceSecrets(
  options: OpenWorkspaceSecretsOptions
): Promise<WorkspaceSecrets> {
  const keyOptions: LoadSecretKeyOptions = {
    dataDir: options.dataDir,
    env: options.env ?? process.env,
    keyFile: options.keyFile
  };
  const box = new SecretBox(await loadSecretKey(keyOptions));
  return new WorkspaceSecrets(options.store, box);
}

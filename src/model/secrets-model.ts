import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { CellflowError } from '../api/client.js';
import type { ISecret } from '../api/types.js';
import { ConnectionModel, messageOf } from './connection-model.js';

import { checkSecretName } from '../flow/secret-names.js';

// The server's rule and messages, so the form says so as the name is typed, before any request.
export { SECRET_NAME_PATTERN, checkSecretName } from '../flow/secret-names.js';

/** A problem to show, and the form field it is about (`name`, `value`), if any. */
export interface ISecretsError {
  message: string;
  field: string | null;
}

/**
 * The secrets of the logged-in workspace: environment variables of its kernels. Values are
 * write-only: `set` sends one in its request and keeps nothing of it; the list holds names and times.
 */
export class SecretsModel implements IDisposable {
  constructor(private readonly connection: ConnectionModel) {
    connection.changed.connect(this.onConnection, this);
    this.onConnection();
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Names and times, sorted by name. */
  get secrets(): readonly ISecret[] {
    return this._secrets;
  }

  /** True while the list is being (re)loaded. */
  get loading(): boolean {
    return this._loading;
  }

  /** True while a set or a delete is under way. */
  get busy(): boolean {
    return this._pending > 0;
  }

  get error(): ISecretsError | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  has(name: string): boolean {
    return this._secrets.some(s => s.name === name);
  }

  /** Load the list of the logged-in workspace (emptied when logged out). */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    if (this.connection.status !== 'loggedIn') {
      this._secrets = [];
      this._loading = false;
      this._changed.emit();
      return;
    }
    this._loading = true;
    this._changed.emit();
    try {
      const secrets = await this.connection.client.listSecrets();
      if (generation === this._generation) {
        this._secrets = sorted(secrets);
        this._error = null;
      }
    } catch (error) {
      if (generation === this._generation) {
        this.fail(error);
      }
    } finally {
      if (generation === this._generation && !this._isDisposed) {
        this._loading = false;
        this._changed.emit();
      }
    }
  }

  /**
   * Create or replace a secret; true when the server took it. A bad name is refused here, naming the
   * field, without a request. The value is only passed on to the request.
   */
  async set(name: string, value: string): Promise<boolean> {
    const problem = checkSecretName(name);
    if (problem) {
      this._error = { message: problem, field: 'name' };
      this._changed.emit();
      return false;
    }
    if (value === '') {
      this._error = {
        message: 'A secret value must not be empty',
        field: 'value'
      };
      this._changed.emit();
      return false;
    }
    return this.act(async () => {
      const secret = await this.connection.client.setSecret(name, value);
      this._secrets = sorted([
        ...this._secrets.filter(s => s.name !== secret.name),
        secret
      ]);
    });
  }

  /** Delete a secret; one already gone (404) is simply dropped from the list. */
  async remove(name: string): Promise<boolean> {
    return this.act(async () => {
      try {
        await this.connection.client.deleteSecret(name);
      } catch (error) {
        if (!(error instanceof CellflowError && error.status === 404)) {
          throw error;
        }
      }
      this._secrets = this._secrets.filter(s => s.name !== name);
    });
  }

  /** Forget a problem shown (the user edits the form again). */
  clearError(): void {
    if (this._error) {
      this._error = null;
      this._changed.emit();
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this.connection.changed.disconnect(this.onConnection, this);
    Signal.clearData(this);
  }

  /** Reload when another workspace (or server) logs in; forget the list on logout. */
  private onConnection(): void {
    const status = this.connection.status;
    if (status !== 'loggedIn' && status !== 'loggedOut') {
      return; // checking, or unreachable for a while: the same login
    }
    const identity =
      status === 'loggedIn'
        ? `${this.connection.url ?? ''} ${this.connection.me?.workspace.id ?? ''}`
        : null;
    if (identity === this._identity) {
      return;
    }
    this._identity = identity;
    this._error = null;
    void this.refresh();
  }

  /** Run a set or a delete: its failure shown (a 401 asks to log in again). */
  private async act(call: () => Promise<void>): Promise<boolean> {
    const generation = this._generation;
    this._pending++;
    this._error = null;
    this._changed.emit();
    try {
      await call();
      // The list as the server has it now (a listing begun before this change is dropped).
      void this.refresh();
      return true;
    } catch (error) {
      if (generation === this._generation) {
        this.fail(error);
      }
      return false;
    } finally {
      this._pending--;
      if (!this._isDisposed) {
        this._changed.emit();
      }
    }
  }

  private fail(error: unknown): void {
    if (error instanceof CellflowError && error.isUnauthorized) {
      this.connection.sessionExpired(error.message);
    } else if (error instanceof CellflowError && error.isUnreachable) {
      this.connection.setReachable(false, error.message);
    }
    const field =
      error instanceof CellflowError && typeof error.body.field === 'string'
        ? error.body.field
        : null;
    this._error = { message: messageOf(error), field };
  }

  private _secrets: ISecret[] = [];
  private _loading = false;
  private _pending = 0;
  private _error: ISecretsError | null = null;
  /** Who the list belongs to: server URL and workspace id; null logged out, undefined not known yet. */
  private _identity: string | null | undefined = undefined;
  private _generation = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

function sorted(secrets: ISecret[]): ISecret[] {
  return [...secrets].sort((a, b) => (a.name < b.name ? -1 : 1));
}

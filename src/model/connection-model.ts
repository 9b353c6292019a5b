import { ISignal, Signal } from '@lumino/signaling';

import { CellflowClient, CellflowError, IMe } from '../api/client.js';

export type ConnectionStatus =
  'checking' | 'loggedOut' | 'loggedIn' | 'unreachable';

/**
 * The lab's login to a Cellflow server. The key itself is sent once, to the lab's server extension,
 * which keeps it in the user's profile (0600): this model only knows who is logged in, and where.
 */
export class ConnectionModel {
  constructor(readonly client: CellflowClient) {}

  get status(): ConnectionStatus {
    return this._status;
  }

  get url(): string | null {
    return this._url;
  }

  /** The lab is starting its local server (while the status is still 'checking'). */
  get starting(): boolean {
    return this._starting;
  }

  /** Logged in to the lab's own local server (started by the lab, which holds its key). */
  get local(): boolean {
    return this._local;
  }

  get me(): IMe | null {
    return this._me;
  }

  /** The last problem to show the user (a refused key, an unreachable server...). */
  get error(): string | null {
    return this._error;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Ask the lab whether a profile exists and still works. */
  async refresh(): Promise<void> {
    try {
      let session = await this.client.session();
      if (session.starting) {
        // The lab is starting its local server: say so, and wait for it with a second request.
        this._starting = true;
        this._changed.emit();
        session = await this.client.session();
      }
      this._starting = false;
      this._url = session.url ?? this._url;
      this._local = session.local === true;
      this._localAvailable = session.localAvailable === true;
      this._me = session.me ?? null;
      this._error = session.error ?? null;
      this._status = !session.loggedIn
        ? 'loggedOut'
        : session.reachable === false
          ? 'unreachable'
          : 'loggedIn';
    } catch (error) {
      this._starting = false;
      this._status = 'unreachable';
      this._error = messageOf(error);
    }
    this._changed.emit();
  }

  /** Log in; resolves true on success, else false with `error` set (what was typed is kept by the form). */
  async login(url: string, key: string): Promise<boolean> {
    try {
      const session = await this.client.login(url, key);
      this._url = session.url ?? url;
      this._local = false;
      this._me = session.me ?? null;
      this._status = 'loggedIn';
      this._error = null;
      this._changed.emit();
      return true;
    } catch (error) {
      this._error = messageOf(error);
      this._changed.emit();
      return false;
    }
  }

  /** Log out of the profile's server; a lab with local mode then logs in to its local server. */
  async logout(): Promise<void> {
    await this.client.logout();
    this._status = 'loggedOut';
    this._local = false;
    this._me = null;
    this._error = null;
    this._changed.emit();
    if (this._localAvailable) {
      await this.refresh();
    }
  }

  /**
   * A call was refused mid-session (401: the key was revoked): ask to log in again, keeping the URL.
   */
  sessionExpired(message: string): void {
    this._status = 'loggedOut';
    this._me = null;
    this._error = message;
    this._changed.emit();
  }

  /** The server stopped answering, or answers again. */
  setReachable(reachable: boolean, message?: string): void {
    const status = reachable ? 'loggedIn' : 'unreachable';
    if (this._status === 'loggedOut' || this._status === status) {
      return;
    }
    this._status = status;
    this._error = reachable ? null : (message ?? null);
    this._changed.emit();
  }

  private _status: ConnectionStatus = 'checking';
  private _url: string | null = null;
  private _local = false;
  private _starting = false;
  private _localAvailable = false;
  private _me: IMe | null = null;
  private _error: string | null = null;
  private _changed = new Signal<this, void>(this);
}

export function messageOf(error: unknown): string {
  if (error instanceof CellflowError) {
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

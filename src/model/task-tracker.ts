/**
 * The server calls a model has under way, each by its kind (as jupyterlab-git's task handler tracks
 * overlapping git commands): a model is busy while any runs, and a second call of a kind already
 * under way can be refused, so a slow refresh ending never clears the busy state of a deploy that
 * started after it.
 */
export class TaskTracker<K extends string = string> {
  /** Whether any call is under way. */
  get busy(): boolean {
    return this._running.size > 0;
  }

  /** Whether a call of this kind is under way. */
  isBusy(kind: K): boolean {
    for (const running of this._running.values()) {
      if (running === kind) {
        return true;
      }
    }
    return false;
  }

  /** Runs `work` as a task of `kind`: counted from now until it settles, whatever its outcome. */
  async run<T>(kind: K, work: () => Promise<T>): Promise<T> {
    const id = ++this._next;
    this._running.set(id, kind);
    try {
      return await work();
    } finally {
      this._running.delete(id);
    }
  }

  private _running = new Map<number, K>();
  private _next = 0;
}

/**
 * The in-process signal that a workspace has new events. It carries no data: the events table is the one
 * source of truth, so a listener that hears a notify reads the store after the last id it saw. A missed or
 * doubled notify therefore costs a query, never an event.
 */
export type EventListener = () => void;

export interface EventHub {
  /** Call after any committed store write that appended events for the workspace. */
  notify(workspaceId: string): void;
  /** Calls `listener` on every later notify for the workspace; returns the unsubscribe function. */
  subscribe(workspaceId: string, listener: EventListener): () => void;
}

export class LocalEventHub implements EventHub {
  private readonly listeners = new Map<string, Set<EventListener>>();

  notify(workspaceId: string): void {
    const set = this.listeners.get(workspaceId);
    if (!set) {
      return;
    }
    // A copy: a listener may unsubscribe (its client went away) while we iterate.
    for (const listener of [...set]) {
      try {
        listener();
      } catch {
        // One broken stream must not stop the others from hearing about the event.
      }
    }
  }

  /** Notifies every workspace that has listeners (after a gap in which notifies may have been lost). */
  notifyAll(): void {
    for (const workspaceId of [...this.listeners.keys()]) {
      this.notify(workspaceId);
    }
  }

  subscribe(workspaceId: string, listener: EventListener): () => void {
    let set = this.listeners.get(workspaceId);
    if (!set) {
      set = new Set();
      this.listeners.set(workspaceId, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(workspaceId);
      if (!current) {
        return;
      }
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(workspaceId);
      }
    };
  }

  /** How many listeners a workspace has (tests check that closed streams unsubscribe). */
  listenerCount(workspaceId: string): number {
    return this.listeners.get(workspaceId)?.size ?? 0;
  }
}

export function createEventHub(): LocalEventHub {
  return new LocalEventHub();
}

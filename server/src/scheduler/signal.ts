/**
 * An in-process nudge from the API to the scheduler sharing its store: "a schedule changed, plan now".
 * The listeners hang on the store object itself, so two servers in one process (tests) do not nudge
 * each other, while a Proxy around the store (events/notifying-store.ts) still reaches the same
 * listeners: a Proxy without traps for them reads and writes its target's properties. Another
 * process's scheduler learns of the change at its next planning refresh.
 */
const LISTENERS = Symbol.for('cellflow.scheduler.scheduleListeners');

type Holder = { [LISTENERS]?: Set<() => void> };

function listenersOf(store: object): Set<() => void> {
  const holder = store as Holder;
  holder[LISTENERS] ??= new Set();
  return holder[LISTENERS];
}

export function onSchedulesChanged(
  store: object,
  listener: () => void
): () => void {
  const listeners = listenersOf(store);
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

export function schedulesChanged(store: object): void {
  for (const listener of [...listenersOf(store)]) {
    listener();
  }
}

/**
 * An in-process nudge from the API to the scheduler sharing its store: "a schedule changed, plan now".
 * Keyed by the store object, so two servers in one process (tests) do not nudge each other. Another
 * process's scheduler learns of the change at its next planning refresh.
 */
const listeners = new WeakMap<object, Set<() => void>>();

export function onSchedulesChanged(
  store: object,
  listener: () => void
): () => void {
  let set = listeners.get(store);
  if (!set) {
    set = new Set();
    listeners.set(store, set);
  }
  set.add(listener);
  return () => {
    listeners.get(store)?.delete(listener);
  };
}

export function schedulesChanged(store: object): void {
  for (const listener of [...(listeners.get(store) ?? [])]) {
    listener();
  }
}

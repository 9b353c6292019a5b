import type { Store } from '../../src/store/store.js';

/**
 * The store, with `onCall(args)` told of every call of one of its methods before it runs (to count
 * store lookups, or see the writes a component makes); everything else passes through.
 */
export function watchedStore<M extends keyof Store>(
  store: Store,
  method: M,
  onCall: (args: unknown[]) => void
): Store {
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') {
        return value;
      }
      if (name !== method) {
        return value.bind(target);
      }
      return (...args: unknown[]) => {
        onCall(args);
        return value.apply(target, args);
      };
    }
  });
}

/** What every route module is given: the store, the event hub and (when this process runs flows) the run controller. */
import type { EventHub } from '../events/hub.js';
import type { RunController } from '../runs/controller.js';
import type { Store } from '../store/store.js';

export interface ApiContext {
  store: Store;
  hub: EventHub;
  runs?: RunController;
  /** Milliseconds between SSE heartbeat comments. */
  heartbeatMs: number;
  /** Open event streams one API key may hold (default 10). */
  maxStreamsPerKey?: number;
  /** Milliseconds an event stream's client may leave the socket undrained before it is cut off. */
  streamStallMs?: number;
}

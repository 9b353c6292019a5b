/**
 * The delivery loop: claims due deliveries from the store, sends each within a timeout, and records
 * the outcome; a failure is tried again after a capped exponential backoff, up to maxAttempts. It
 * runs beside the run service and never touches a run: a slow or broken destination delays nothing
 * but its own messages. Deliveries live in the store, so a restart picks up where this one stopped.
 */
import type { ClaimedDelivery, Store } from '../store/store.js';
import { describeRun } from './message.js';
import { SendError, sendNotice } from './senders.js';
import type { NotificationService } from './service.js';

export interface DeliveryLoopOptions {
  store: Store;
  service: NotificationService;
  /** Milliseconds between looks at the queue when it is idle (50..60 000, default 2000). */
  pollMs?: number;
  /** Deliveries claimed at once (1..100, default 10). */
  batch?: number;
  /** Tries per delivery before it is given up as Failed (1..50, default 8). */
  maxAttempts?: number;
  /** The first retry's delay, doubled each time (100 ms..1 h, default 10 s)... */
  backoffMs?: number;
  /** ...up to this (default 1 h, at most 24 h). */
  maxBackoffMs?: number;
  /** Told of a store error (the loop keeps going); default: nothing. */
  onError?: (error: unknown) => void;
}

export const DELIVERY_LIMITS = {
  pollMs: [50, 60_000, 2000],
  batch: [1, 100, 10],
  maxAttempts: [1, 50, 8],
  backoffMs: [100, 3_600_000, 10_000],
  maxBackoffMs: [100, 86_400_000, 3_600_000]
} as const;

function bounded(name: keyof typeof DELIVERY_LIMITS, value?: number): number {
  const [min, max, fallback] = DELIVERY_LIMITS[name];
  if (value === undefined) {
    return fallback;
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `notification ${name} must be a whole number from ${min} to ${max}, got ${value}`
    );
  }
  return value;
}

/** The wait before the try after `attempts` failed ones: backoff · 2^(attempts-1), capped. */
export function backoffDelay(
  attempts: number,
  backoffMs: number,
  maxBackoffMs: number
): number {
  return Math.min(backoffMs * 2 ** Math.min(attempts - 1, 30), maxBackoffMs);
}

export class DeliveryLoop {
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: DeliveryLoopOptions) {
    this.pollMs = bounded('pollMs', options.pollMs);
    this.batch = bounded('batch', options.batch);
    this.maxAttempts = bounded('maxAttempts', options.maxAttempts);
    this.backoffMs = bounded('backoffMs', options.backoffMs);
    this.maxBackoffMs = bounded('maxBackoffMs', options.maxBackoffMs);
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops claiming, and waits for the sends under way to be recorded (each within its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) {
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
      });
    }, ms);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    let sent = 0;
    try {
      sent = await this.runOnce();
    } catch (error) {
      this.options.onError?.(error);
    }
    // A full batch means more may be due: look again at once.
    this.schedule(sent >= this.batch ? 0 : this.pollMs);
  }

  /** Claims and sends one batch; how many were claimed. */
  async runOnce(now: Date = new Date()): Promise<number> {
    const { timeoutMs } = this.options.service.context;
    // The lease outlasts a send's timeout: a sender still at work is never taken over.
    const claimed = await this.options.store.claimNotificationDeliveries(
      this.batch,
      timeoutMs * 3 + 5000,
      now
    );
    await Promise.all(claimed.map(d => this.deliver(d)));
    return claimed.length;
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const { store, service } = this.options;
    let error: string;
    let retry = true;
    try {
      const target = service.openTarget(
        delivery.workspaceId,
        delivery.ruleId,
        delivery.targetCiphertext
      );
      const notice = await describeRun(
        store,
        delivery,
        service.context.publicUrl
      );
      await sendNotice(target, notice, delivery.id, service.context);
      await store.finishNotificationDelivery(delivery.id, { ok: true });
      return;
    } catch (failure) {
      if (failure instanceof SendError) {
        error = failure.message;
      } else if ((failure as { code?: string })?.code === 'SECRET_DECRYPT') {
        // Trying again cannot help: the destination was sealed with another key.
        error =
          'the destination could not be read (was the secrets key changed?)';
        retry = false;
      } else {
        error = 'could not prepare the message (store error)';
        this.options.onError?.(failure);
      }
    }
    const retryAt =
      retry && delivery.attempts < this.maxAttempts
        ? new Date(
            Date.now() +
              backoffDelay(delivery.attempts, this.backoffMs, this.maxBackoffMs)
          )
        : null;
    await store
      .finishNotificationDelivery(delivery.id, { ok: false, error, retryAt })
      .catch(e => this.options.onError?.(e));
  }
}

import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { CellflowError, type CellflowClient } from '../api/client.js';
import type {
  INewNotificationRule,
  INotificationDelivery,
  INotificationRule
} from '../api/types.js';
import { messageOf } from './connection-model.js';
import { TaskTracker } from './task-tracker.js';

/** How many of the flow's latest deliveries the panel shows. */
export const DELIVERIES_SHOWN = 10;

/** While a delivery waits or is being sent, its outcome is read again this often (the sender's pace). */
export const DELIVERY_POLL_MS = 2000;

/** A problem to show, and the form field it is about (`url`, `email`, `events`...), if any. */
export interface INotificationsError {
  message: string;
  field: string | null;
}

export interface INotificationsModelOptions {
  client: CellflowClient;
  flowId: string;
}

/**
 * One deployed flow's notification rules (its own and the workspace's rules for every flow) and its
 * latest deliveries with their outcome, as the server has them. A destination goes to the server once,
 * in the request that adds the rule, and is only ever shown masked. Deliveries are sent by the server
 * after a run ends: while one waits, the list is read again until it has an outcome.
 */
export class NotificationsModel implements IDisposable {
  constructor(private readonly options: INotificationsModelOptions) {}

  get flowId(): string {
    return this.options.flowId;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The rules that apply to this flow: its own and those for every flow, oldest first. */
  get rules(): readonly INotificationRule[] {
    return this._rules;
  }

  /** The flow's latest deliveries, newest first. */
  get deliveries(): readonly INotificationDelivery[] {
    return this._deliveries;
  }

  /** The outcome of the last test message sent to each rule's destination. */
  testResult(
    ruleId: string
  ): { delivered: boolean; error: string | null } | null {
    return this._tests.get(ruleId) ?? null;
  }

  /** True until the first load ended. */
  get loading(): boolean {
    return !this._loaded;
  }

  /** True while an add, a delete or a test is under way. */
  get busy(): boolean {
    return this._tasks.busy;
  }

  get error(): INotificationsError | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Reads the rules and the deliveries again. */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    try {
      const [rules, deliveries] = await Promise.all([
        this.options.client.listNotificationRules(),
        this.options.client.listNotificationDeliveries(
          this.flowId,
          DELIVERIES_SHOWN
        )
      ]);
      if (generation === this._generation && !this._isDisposed) {
        this._rules = rules.filter(
          r => r.flowId === null || r.flowId === this.flowId
        );
        this._deliveries = deliveries;
        this._error = null;
      }
    } catch (error) {
      if (generation === this._generation) {
        this._error = toError(error);
      }
    } finally {
      this._loaded = true;
      this.pollWhileWaiting();
      this.emit();
    }
  }

  /**
   * A run of the flow ended: the server queued its notifications with its end, so the list is read
   * now, and again while any of them waits to be sent.
   */
  runEnded(): void {
    void this.refresh();
  }

  /**
   * Add a rule for this flow (or, with `everyFlow`, for every flow of the workspace). A destination
   * missing for its kind is refused here, naming the field, before any request.
   */
  add(
    rule: Omit<INewNotificationRule, 'flowId'>,
    everyFlow = false
  ): Promise<boolean> {
    const missing = missingField(rule);
    if (missing) {
      this._error = missing;
      this.emit();
      return Promise.resolve(false);
    }
    return this.act(async () => {
      await this.options.client.addNotificationRule({
        ...rule,
        flowId: everyFlow ? null : this.flowId
      });
    });
  }

  /** Remove a rule; one already gone (404) is simply dropped from the list. */
  remove(id: string): Promise<boolean> {
    return this.act(async () => {
      try {
        await this.options.client.deleteNotificationRule(id);
      } catch (error) {
        if (!(error instanceof CellflowError && error.status === 404)) {
          throw error;
        }
      }
      this._tests.delete(id);
    });
  }

  /** Send a test message to a rule's destination; its outcome shows beside the rule. */
  test(id: string): Promise<boolean> {
    return this.act(async () => {
      const result = await this.options.client.testNotificationRule(id);
      this._tests.set(id, { delivered: result.delivered, error: result.error });
    });
  }

  /** Forget a problem shown (the user edits the form again). */
  clearError(): void {
    if (this._error) {
      this._error = null;
      this.emit();
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    if (this._poll !== null) {
      clearTimeout(this._poll);
      this._poll = null;
    }
    Signal.clearData(this);
  }

  /** Read the list again after DELIVERY_POLL_MS while a delivery has no outcome yet. */
  private pollWhileWaiting(): void {
    const waiting = this._deliveries.some(
      d => d.state === 'Pending' || d.state === 'Sending'
    );
    if (!waiting || this._poll !== null || this._isDisposed) {
      return;
    }
    this._poll = setTimeout(() => {
      this._poll = null;
      if (!this._isDisposed) {
        void this.refresh();
      }
    }, DELIVERY_POLL_MS);
  }

  /** One action: tracked while under way, then the list read again (a refused change leaves the server's). */
  private async act(call: () => Promise<void>): Promise<boolean> {
    this._error = null;
    let failure: INotificationsError | null = null;
    const done = this._tasks.run('change', async () => {
      try {
        await call();
      } catch (error) {
        failure = toError(error);
      }
      await this.refresh();
    });
    this.emit();
    try {
      await done;
    } finally {
      if (failure !== null) {
        this._error = failure; // over the refresh's clearing
      }
      this.emit();
    }
    return failure === null;
  }

  private emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private _rules: INotificationRule[] = [];
  private _deliveries: INotificationDelivery[] = [];
  private _tests = new Map<
    string,
    { delivered: boolean; error: string | null }
  >();
  private _loaded = false;
  private _tasks = new TaskTracker();
  private _error: INotificationsError | null = null;
  private _generation = 0;
  private _poll: ReturnType<typeof setTimeout> | null = null;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

/** The destination field a rule of its kind needs and lacks, and at least one event. */
function missingField(
  rule: Omit<INewNotificationRule, 'flowId'>
): INotificationsError | null {
  if (rule.events.length === 0) {
    return { message: 'Choose at least one run event', field: 'events' };
  }
  if (rule.kind === 'email') {
    return rule.email?.trim()
      ? null
      : { message: 'An e-mail rule needs an address', field: 'email' };
  }
  if (!rule.url?.trim()) {
    return {
      message: `A ${rule.kind === 'slack' ? 'Slack' : 'webhook'} rule needs its URL`,
      field: 'url'
    };
  }
  return rule.kind === 'webhook' && !rule.secret
    ? { message: 'A webhook rule needs a signing secret', field: 'secret' }
    : null;
}

function toError(error: unknown): INotificationsError {
  const field =
    error instanceof CellflowError && typeof error.body.field === 'string'
      ? error.body.field
      : null;
  return { message: messageOf(error), field };
}

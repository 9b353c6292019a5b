import { TranslationBundle } from '@jupyterlab/translation';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import type {
  INotificationDelivery,
  INotificationRule,
  NotificationEvent,
  NotificationKind
} from '../api/types.js';
import {
  NOTIFICATION_EVENTS,
  NOTIFICATION_KINDS
} from '../flow/notification-kinds.js';
import { RemoteFlowModel } from '../model/remote-flow.js';
import { NotificationsModel } from '../model/notifications-model.js';

/**
 * Notifications of the deployed flow: the rules that apply to it (on which run events, to which
 * destination, shown masked), each with Test and Remove; "Add notification…" opens a form in a dialog;
 * the flow's latest deliveries with their outcome, read again until each has one.
 */
export class NotificationsView extends ReactWidget {
  constructor(private readonly trans: TranslationBundle) {
    super();
    this.addClass('jp-CellflowNotifications');
  }

  set remote(remote: RemoteFlowModel | null) {
    if (remote === null) {
      this._model?.changed.disconnect(this.update, this);
      this._model = null;
    }
    this._remote?.changed.disconnect(this.update, this);
    this._remote = remote;
    remote?.changed.connect(this.update, this);
    this.update();
  }

  dispose(): void {
    this.remote = null;
    super.dispose();
  }

  protected render(): JSX.Element | null {
    const model = this._remote?.notifications ?? null;
    if (model !== this._model) {
      this._model?.changed.disconnect(this.update, this);
      this._model = model;
      model?.changed.connect(this.update, this);
    }
    if (!model) {
      return null;
    }
    return (
      <Notifications key={model.flowId} model={model} trans={this.trans} />
    );
  }

  private _remote: RemoteFlowModel | null = null;
  private _model: NotificationsModel | null = null;
}

function Notifications(props: {
  model: NotificationsModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  const error = model.error;
  return (
    <section aria-label={trans.__('Notifications')}>
      <h3 className="jp-CellflowSection-title">{trans.__('Notifications')}</h3>
      {model.rules.length === 0 && !model.loading && (
        <p className="jp-CellflowHint">
          {trans.__('No notification yet: add one to hear when a run fails.')}
        </p>
      )}
      <ul className="jp-CellflowNotifications-rules">
        {model.rules.map(rule => (
          <RuleLine key={rule.id} rule={rule} model={model} trans={trans} />
        ))}
      </ul>
      <div className="jp-CellflowActions-buttons">
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => openRuleEditor(model, trans)}
        >
          {trans.__('Add notification…')}
        </button>
      </div>
      {model.deliveries.length > 0 && (
        <>
          <h4 className="jp-CellflowNotifications-subtitle">
            {trans.__('Sent for recent runs')}
          </h4>
          <ul
            className="jp-CellflowNotifications-deliveries"
            aria-label={trans.__('Notifications sent')}
          >
            {model.deliveries.map(d => (
              <DeliveryLine key={d.id} delivery={d} trans={trans} />
            ))}
          </ul>
        </>
      )}
      {error && !model.busy && (
        <p className="jp-CellflowError" role="alert">
          {error.message}
        </p>
      )}
    </section>
  );
}

/** A rule on one line: its events, its destination (masked), its scope, Test and Remove. */
function RuleLine(props: {
  rule: INotificationRule;
  model: NotificationsModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { rule, model, trans } = props;
  const tested = model.testResult(rule.id);
  return (
    <li className="jp-CellflowNotificationRule" data-rule={rule.id}>
      <span className="jp-CellflowNotificationRule-what">
        {trans.__(
          'On %1 → %2 %3',
          rule.events.map(e => eventLabel(e, trans)).join(', '),
          kindLabel(rule.kind, trans),
          rule.target
        )}
        {rule.flowId === null ? ` (${trans.__('every flow')})` : ''}
      </span>
      <span className="jp-CellflowSchedule-actions">
        <button
          type="button"
          className="jp-mod-styled jp-mod-minimal"
          disabled={model.busy}
          onClick={() => void model.test(rule.id)}
        >
          {trans.__('Test')}
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-minimal jp-mod-warn"
          disabled={model.busy}
          onClick={() => void confirmRemove(model, rule, trans)}
        >
          {trans.__('Remove')}
        </button>
      </span>
      {tested && (
        <span
          className="jp-CellflowNotificationRule-test"
          data-delivered={String(tested.delivered)}
          role="status"
        >
          {tested.delivered
            ? trans.__('Test message delivered')
            : trans.__('Test message failed: %1', tested.error ?? '')}
        </span>
      )}
    </li>
  );
}

/** A delivery: its outcome, the run event and run, where it went, and its failed attempts. */
function DeliveryLine(props: {
  delivery: INotificationDelivery;
  trans: TranslationBundle;
}): JSX.Element {
  const { delivery: d, trans } = props;
  const when = new Date(d.deliveredAt ?? d.createdAt).toLocaleTimeString();
  const failures = d.failures.map(f => `${f.at}: ${f.error}`).join('\n');
  return (
    <li
      className="jp-CellflowNotificationDelivery"
      data-state={d.state}
      title={failures || undefined}
    >
      <span className="jp-CellflowNotificationDelivery-state">
        {deliveryStateLabel(d.state, trans)}
      </span>{' '}
      {trans.__(
        'run %1 %2 → %3 %4',
        d.flowRunId.slice(0, 8),
        eventLabel(d.event, trans),
        kindLabel(d.kind, trans),
        d.target
      )}{' '}
      <span className="jp-CellflowNotificationDelivery-when">
        {d.attempts > 1
          ? trans.__('%1, %2 attempts', when, String(d.attempts))
          : when}
      </span>
      {d.lastError && d.state !== 'Delivered' && (
        <span className="jp-CellflowNotificationDelivery-error">
          {d.lastError}
        </span>
      )}
    </li>
  );
}

async function confirmRemove(
  model: NotificationsModel,
  rule: INotificationRule,
  trans: TranslationBundle
): Promise<void> {
  const answer = await showDialog({
    title: trans.__('Remove the notification?'),
    body: trans.__(
      'Messages to %1 stop; those not sent yet are dropped.',
      rule.target
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Remove') })
    ]
  });
  if (answer.button.accept) {
    await model.remove(rule.id);
  }
}

/** The form in a dialog: it closes once the rule is added and shows a refusal in place otherwise. */
function openRuleEditor(
  model: NotificationsModel,
  trans: TranslationBundle
): void {
  model.clearError();
  const dialog = new Dialog({
    title: trans.__('Add a notification'),
    body: ReactWidget.create(
      <RuleForm
        trans={trans}
        onAdd={async (rule, everyFlow) => {
          if (await model.add(rule, everyFlow)) {
            dialog.resolve();
            return null;
          }
          return model.error;
        }}
      />
    ),
    buttons: [Dialog.cancelButton({ label: trans.__('Close') })]
  });
  dialog.addClass('jp-CellflowNotificationDialog');
  void dialog.launch();
}

type NewRule = Parameters<NotificationsModel['add']>[0];

function RuleForm(props: {
  trans: TranslationBundle;
  /** Resolves to the refusal (with its field), or null once added. */
  onAdd: (
    rule: NewRule,
    everyFlow: boolean
  ) => Promise<{ message: string; field: string | null } | null>;
}): JSX.Element {
  const { trans } = props;
  const [events, setEvents] = useState<NotificationEvent[]>([
    'Failed',
    'Crashed'
  ]);
  const [kind, setKind] = useState<NotificationKind>('slack');
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState('');
  const [email, setEmail] = useState('');
  const [everyFlow, setEveryFlow] = useState(false);
  const [refusal, setRefusal] = useState<{
    message: string;
    field: string | null;
  } | null>(null);
  const toggle = (event: NotificationEvent, on: boolean) =>
    setEvents(
      NOTIFICATION_EVENTS.filter(e => (e === event ? on : events.includes(e)))
    );
  const problemOf = (field: string) =>
    refusal?.field === field ? refusal.message : null;

  return (
    <form
      className="jp-CellflowNotificationForm"
      aria-label={trans.__('Add a notification')}
      onSubmit={e => {
        e.preventDefault();
        const rule: NewRule =
          kind === 'email'
            ? { events, kind, email }
            : kind === 'webhook'
              ? { events, kind, url, secret }
              : { events, kind, url };
        void props.onAdd(rule, everyFlow).then(setRefusal);
      }}
    >
      <fieldset className="jp-CellflowNotificationForm-events">
        <legend>{trans.__('When a run')}</legend>
        {NOTIFICATION_EVENTS.map(event => (
          <label key={event}>
            <input
              type="checkbox"
              name={`event-${event}`}
              checked={events.includes(event)}
              onChange={e => toggle(event, e.target.checked)}
            />
            {eventLabel(event, trans)}
          </label>
        ))}
        <FieldProblem message={problemOf('events')} />
      </fieldset>
      <label>
        {trans.__('Send to')}
        <select
          className="jp-mod-styled"
          name="kind"
          value={kind}
          onChange={e => setKind(e.target.value as NotificationKind)}
        >
          {NOTIFICATION_KINDS.map(k => (
            <option key={k} value={k}>
              {kindLabel(k, trans)}
            </option>
          ))}
        </select>
      </label>
      {kind === 'email' ? (
        <label>
          {trans.__('E-mail address')}
          <input
            className="jp-mod-styled"
            name="email"
            type="email"
            autoComplete="off"
            value={email}
            onChange={e => setEmail(e.target.value)}
          />
          <FieldProblem message={problemOf('email')} />
        </label>
      ) : (
        <label>
          {kind === 'slack'
            ? trans.__('Slack incoming webhook URL')
            : trans.__('Webhook URL (a JSON body is POSTed to it)')}
          <input
            className="jp-mod-styled"
            name="url"
            type="url"
            autoComplete="off"
            value={url}
            onChange={e => setUrl(e.target.value)}
          />
          <FieldProblem message={problemOf('url')} />
        </label>
      )}
      {kind === 'webhook' && (
        <label>
          {trans.__(
            'Signing secret (signs each body: HMAC-SHA256 in X-Cellflow-Signature-256)'
          )}
          <input
            className="jp-mod-styled"
            name="secret"
            type="password"
            autoComplete="new-password"
            value={secret}
            onChange={e => setSecret(e.target.value)}
          />
          <FieldProblem message={problemOf('secret')} />
        </label>
      )}
      <label className="jp-CellflowNotificationForm-scope">
        <input
          type="checkbox"
          name="everyFlow"
          checked={everyFlow}
          onChange={e => setEveryFlow(e.target.checked)}
        />
        {trans.__('For every flow of the workspace')}
      </label>
      <p className="jp-CellflowHint">
        {trans.__(
          'The URL, secret or address is kept encrypted by the server and only ever shown masked.'
        )}
      </p>
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept"
        disabled={events.length === 0}
      >
        {trans.__('Add notification')}
      </button>
      {refusal && refusal.field === null && (
        <p className="jp-CellflowError" role="alert">
          {refusal.message}
        </p>
      )}
    </form>
  );
}

function FieldProblem(props: { message: string | null }): JSX.Element | null {
  return props.message ? (
    <span className="jp-CellflowError" role="alert">
      {props.message}
    </span>
  ) : null;
}

function eventLabel(
  event: NotificationEvent,
  trans: TranslationBundle
): string {
  switch (event) {
    case 'Failed':
      return trans.__('failed');
    case 'Crashed':
      return trans.__('crashed');
    case 'Late':
      return trans.__('late');
    case 'Completed':
      return trans.__('completed');
    case 'Recovered':
      return trans.__('completed after a failure');
  }
}

function kindLabel(kind: NotificationKind, trans: TranslationBundle): string {
  switch (kind) {
    case 'slack':
      return trans.__('Slack');
    case 'webhook':
      return trans.__('webhook');
    case 'email':
      return trans.__('e-mail');
  }
}

function deliveryStateLabel(
  state: INotificationDelivery['state'],
  trans: TranslationBundle
): string {
  switch (state) {
    case 'Pending':
      return trans.__('Waiting');
    case 'Sending':
      return trans.__('Sending');
    case 'Delivered':
      return trans.__('Delivered');
    case 'Failed':
      return trans.__('Failed');
  }
}

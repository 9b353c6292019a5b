import { TranslationBundle } from '@jupyterlab/translation';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import type { OverlapPolicy } from '../api/types.js';
import { RemoteFlowModel } from '../model/remote-flow.js';
import { SchedulesModel } from '../model/schedules-model.js';
import {
  describeSchedule,
  previewSchedule
} from '../flow/schedule-describe.js';
import type { ScheduleSpec } from '../flow/schedule-types.js';
import { validateSchedule } from '../flow/schedule-validate.js';
import {
  acceptsUndeclaredParameters,
  validateParameterValues
} from '../flow/parameters.js';
import type { ParameterSpec } from '../flow/spec.js';
import { userTimeZone } from '../flow/schedule-zone.js';
import { upcomingRuns } from '../model/schedule-times.js';
import { ScheduleRunTimes } from './schedule-run-times.js';

/**
 * Schedules of the deployed flow: each with its readable description and next runs, pause/resume and
 * delete; a form that previews a new schedule (with the same maths as the server) before it is added;
 * the flow's overlap policy.
 */
export class SchedulesView extends ReactWidget {
  constructor(private readonly trans: TranslationBundle) {
    super();
    this.addClass('jp-CellflowSchedules');
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
    const remote = this._remote;
    const model = remote?.schedules ?? null;
    if (model !== this._model) {
      this._model?.changed.disconnect(this.update, this);
      this._model = model;
      model?.changed.connect(this.update, this);
    }
    if (!remote || !model) {
      return null;
    }
    return (
      <Schedules
        key={model.flowId}
        remote={remote}
        model={model}
        trans={this.trans}
      />
    );
  }

  private _remote: RemoteFlowModel | null = null;
  private _model: SchedulesModel | null = null;
}

function Schedules(props: {
  remote: RemoteFlowModel;
  model: SchedulesModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { remote, model, trans } = props;
  const schedules = model.schedules;
  const error = model.error;

  return (
    <section aria-label={trans.__('Schedules')}>
      <h3 className="jp-CellflowSection-title">{trans.__('Schedules')}</h3>
      {schedules.length === 0 && (
        <p className="jp-CellflowHint">{trans.__('No schedule yet.')}</p>
      )}
      <ul className="jp-CellflowSchedules-list">
        {schedules.map(s => (
          <li
            key={s.id}
            className="jp-CellflowSchedule"
            data-schedule={s.id}
            title={trans.__('missed runs: %1', s.missedPolicy)}
          >
            <span className="jp-CellflowSchedule-description">
              {s.description}
              {s.paused ? ` (${trans.__('paused')})` : ''}
            </span>
            <ScheduleRunTimes
              preview={now => upcomingRuns(s, now, 1)}
              className="jp-CellflowSchedule-next"
              label={trans.__('Next run')}
              trans={trans}
            />
            <span className="jp-CellflowSchedule-actions">
              <button
                type="button"
                className="jp-mod-styled jp-mod-minimal"
                disabled={model.busy}
                onClick={() => void model.setPaused(s.id, !s.paused)}
              >
                {s.paused ? trans.__('Resume') : trans.__('Pause')}
              </button>
              <button
                type="button"
                className="jp-mod-styled jp-mod-minimal jp-mod-warn"
                disabled={model.busy}
                onClick={() =>
                  void confirmDelete(model, s.id, s.description, trans)
                }
              >
                {trans.__('Delete')}
              </button>
            </span>
          </li>
        ))}
      </ul>
      <div className="jp-CellflowActions-buttons">
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => openScheduleEditor(remote, model, trans)}
        >
          {trans.__('Add schedule…')}
        </button>
      </div>
      <OverlapForm model={model} trans={trans} />
      {error && (
        <p className="jp-CellflowError" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

/** Deletes a schedule (and its planned runs) once the user confirms it. */
async function confirmDelete(
  model: SchedulesModel,
  id: string,
  description: string,
  trans: TranslationBundle
): Promise<void> {
  const answer = await showDialog({
    title: trans.__('Delete the schedule?'),
    body: trans.__(
      '“%1” and the runs it planned are removed; runs that ran stay.',
      description
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Delete') })
    ]
  });
  if (answer.button.accept) {
    await model.remove(id);
  }
}

/**
 * The schedule editor, in a dialog with room for its preview: it closes once the schedule is added,
 * and shows the server's refusal in place otherwise.
 */
function openScheduleEditor(
  remote: RemoteFlowModel,
  model: SchedulesModel,
  trans: TranslationBundle
): void {
  const version = remote.version;
  const dialog = new Dialog({
    title: trans.__('Add a schedule'),
    body: ReactWidget.create(
      <ScheduleForm
        trans={trans}
        parameters={version?.spec.parameters ?? []}
        acceptUndeclared={
          !!version && acceptsUndeclaredParameters(version.spec)
        }
        onAdd={async spec => {
          if (await model.add(spec)) {
            dialog.resolve();
            return null;
          }
          return model.error;
        }}
      />
    ),
    buttons: [Dialog.cancelButton({ label: trans.__('Close') })]
  });
  dialog.addClass('jp-CellflowScheduleDialog');
  void dialog.launch();
}

/** A new schedule: typed, validated and previewed as typed, added only when valid. */
function ScheduleForm(props: {
  trans: TranslationBundle;
  /** The deployed flow's parameters: a schedule may give its runs values of its own. */
  parameters: ParameterSpec[];
  /** The flow has no parameters cell: any value is taken, as the server takes it (papermill's rule). */
  acceptUndeclared: boolean;
  /** Resolves to the server's refusal, or null once added. */
  onAdd: (spec: ScheduleSpec) => Promise<string | null>;
}): JSX.Element {
  const { trans } = props;
  const [refusal, setRefusal] = useState<string | null>(null);
  const [parameterText, setParameterText] = useState('');
  const [kind, setKind] = useState<'interval' | 'cron'>('interval');
  const [every, setEvery] = useState('10s');
  const [expression, setExpression] = useState('*/1 * * * *');
  const [timezone, setTimezone] = useState(userTimeZone());
  const [missedPolicy, setMissedPolicy] = useState('skip');
  const input =
    kind === 'interval'
      ? { kind, every, timezone, missedPolicy }
      : { kind, expression, timezone, missedPolicy };
  // Values for this schedule's runs, as JSON; checked against the deployed flow's parameters.
  let parameterValues: Record<string, unknown> | undefined;
  let parameterError: string | null = null;
  if (parameterText.trim()) {
    try {
      const parsed = JSON.parse(parameterText);
      const valid = validateParameterValues(props.parameters, parsed, {
        acceptUndeclared: props.acceptUndeclared
      });
      if (valid.ok) {
        parameterValues = parsed;
      } else {
        parameterError = valid.errors.join('; ');
      }
    } catch (error) {
      parameterError = trans.__('not JSON: %1', String(error));
    }
  }
  const checked = validateSchedule(
    parameterValues ? { ...input, parameters: parameterValues } : input
  );
  const preview = (now: Date) =>
    checked.ok
      ? previewSchedule(checked.schedule, { from: now, count: 5 })
      : null;
  const description = checked.ok ? describeSchedule(checked.schedule) : null;
  const problem = (field: string) =>
    checked.ok
      ? null
      : (checked.problems.find(p => p.field === field)?.message ?? null);

  return (
    <form
      className="jp-CellflowScheduleForm"
      aria-label={trans.__('Add a schedule')}
      onSubmit={e => {
        e.preventDefault();
        if (checked.ok) {
          void props.onAdd(checked.schedule).then(setRefusal);
        }
      }}
    >
      <label>
        {trans.__('Kind')}
        <select
          className="jp-mod-styled"
          name="kind"
          value={kind}
          onChange={e => setKind(e.target.value as 'interval' | 'cron')}
        >
          <option value="interval">{trans.__('every … (interval)')}</option>
          <option value="cron">{trans.__('cron')}</option>
        </select>
      </label>
      {kind === 'interval' ? (
        <TextField
          label={trans.__('Every (e.g. 10s, 5m, 1h)')}
          name="every"
          value={every}
          onChange={setEvery}
          problem={problem('every')}
        />
      ) : (
        <TextField
          label={trans.__('Cron expression (5 or 6 fields)')}
          name="expression"
          value={expression}
          onChange={setExpression}
          problem={problem('expression')}
        />
      )}
      <TextField
        label={trans.__('Time zone')}
        name="timezone"
        value={timezone}
        onChange={setTimezone}
        problem={problem('timezone')}
      />
      <label>
        {trans.__('Runs missed while the server was down')}
        <select
          className="jp-mod-styled"
          name="missedPolicy"
          value={missedPolicy}
          onChange={e => setMissedPolicy(e.target.value)}
        >
          <option value="skip">{trans.__('skip them (recorded)')}</option>
          <option value="latest">{trans.__('run the latest only')}</option>
          <option value="all">{trans.__('run them all (capped)')}</option>
        </select>
      </label>
      {description !== null && (
        <div
          className="jp-CellflowSchedulePreview"
          aria-label={trans.__('Preview')}
        >
          <p className="jp-CellflowSchedulePreview-description">
            {description}
          </p>
          <ScheduleRunTimes
            preview={preview}
            className="jp-CellflowSchedulePreview-runs"
            label={trans.__('Next runs')}
            trans={trans}
          />
        </div>
      )}
      {props.parameters.length > 0 && (
        <label>
          {trans.__(
            'Parameter values for its runs (JSON, optional), e.g. {"%1": …}',
            props.parameters[0].name
          )}
          <textarea
            className="jp-mod-styled"
            name="parameters"
            value={parameterText}
            onChange={e => setParameterText(e.target.value)}
          />
          <FieldProblem message={parameterError} />
        </label>
      )}
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept"
        disabled={!checked.ok || parameterError !== null}
      >
        {trans.__('Add schedule')}
      </button>
      {refusal && (
        <p className="jp-CellflowError" role="alert">
          {refusal}
        </p>
      )}
    </form>
  );
}

/** A labelled text field of the schedule form, with the problem the validation names for it. */
function TextField(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  problem: string | null;
}): JSX.Element {
  return (
    <label>
      {props.label}
      <input
        className="jp-mod-styled"
        name={props.name}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      />
      <FieldProblem message={props.problem} />
    </label>
  );
}

function FieldProblem(props: { message: string | null }): JSX.Element | null {
  return props.message ? (
    <span className="jp-CellflowError" role="alert">
      {props.message}
    </span>
  ) : null;
}

/** What a scheduled run does while an earlier run of the flow is still running: the flow's own policy. */
function OverlapForm(props: {
  model: SchedulesModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  return (
    <label className="jp-CellflowOverlap">
      {trans.__('When a run is due while the previous one still runs')}
      <select
        className="jp-mod-styled"
        value={model.overlap?.overlap ?? 'queue'}
        disabled={model.overlap === null}
        onChange={e => void model.setOverlap(e.target.value as OverlapPolicy)}
      >
        <option value="queue">{trans.__('queue it')}</option>
        <option value="skip">{trans.__('skip it (recorded)')}</option>
        <option value="parallel">{trans.__('run in parallel')}</option>
      </select>
    </label>
  );
}

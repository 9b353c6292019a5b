import { CommandRegistry } from '@lumino/commands';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { coerceParameterValue } from '../flow/parameters.js';
import type { FlowSpec, ParameterSpec, TaskSpec } from '../flow/spec.js';
import { ConnectionModel } from '../model/connection-model.js';
import { RemoteFlowModel } from '../model/remote-flow.js';
import { possibleUpstream } from '../model/task-graph.js';
import type { NotebookFlow } from '../notebook/notebook-flow.js';
import { updateTaskSettings } from '../notebook/task-actions.js';
import { CommandIDs } from '../tokens.js';

/** What the actions view shows: the active notebook's flow, locally and on the server. */
export interface IFlowTarget {
  flow: NotebookFlow;
  remote: RemoteFlowModel;
}

/**
 * Deploy and run: the deployed version, Deploy, the parameters form, Run now (and Run here), and the
 * settings of the selected task, kept in step with its cell.
 */
export class FlowActionsView extends ReactWidget {
  constructor(
    private readonly connection: ConnectionModel,
    private readonly commands: CommandRegistry,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CellflowActions');
    connection.changed.connect(this.update, this);
  }

  /** Follow another notebook (or none). */
  set target(target: IFlowTarget | null) {
    if (this._target) {
      this._target.remote.changed.disconnect(this.update, this);
      this._target.flow.model.changed.disconnect(this.update, this);
    }
    this._target = target;
    if (target) {
      target.remote.changed.connect(this.update, this);
      target.flow.model.changed.connect(this.update, this);
    }
    this.update();
  }

  dispose(): void {
    this.target = null;
    this.connection.changed.disconnect(this.update, this);
    super.dispose();
  }

  protected render(): JSX.Element | null {
    const target = this._target;
    if (!target) {
      return null;
    }
    const compiled = target.flow.model.compiled;
    const spec = compiled?.ok ? compiled.spec : null;
    return (
      <FlowActions
        key={target.flow.panel.id}
        target={target}
        spec={spec}
        loggedIn={this.connection.status === 'loggedIn'}
        unreachable={this.connection.status === 'unreachable'}
        commands={this.commands}
        trans={this.trans}
      />
    );
  }

  private _target: IFlowTarget | null = null;
}

function FlowActions(props: {
  target: IFlowTarget;
  spec: FlowSpec | null;
  loggedIn: boolean;
  unreachable: boolean;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { target, spec, loggedIn, unreachable, commands, trans } = props;
  const remote = target.remote;
  // Typed parameter values, as text; kept while the notebook stays open.
  const [values, setValues] = useState<Record<string, string>>({});
  // "Refresh cache" for the next Run now: cached tasks run again and store fresh results.
  const [refreshCache, setRefreshCache] = useState(false);
  const caches = spec?.tasks.some(t => t.cacheFor) ?? false;
  const parameters = spec?.parameters ?? [];
  const checked = parameters.map(p => checkParameter(p, values[p.name]));
  const invalid = checked.some(c => c.error);
  const overrides = Object.fromEntries(
    parameters
      .map((p, i) => [p.name, checked[i]] as const)
      .filter(([, c]) => c.given && !c.error)
      .map(([name, c]) => [name, c.value])
  );
  const version = remote.version;
  const selected =
    spec?.tasks.find(t => t.name === target.flow.model.selectedTask) ?? null;

  return (
    <div className="jp-CellflowActions-body">
      <section aria-label={trans.__('Deploy')}>
        <h3 className="jp-CellflowSection-title">{trans.__('Deploy')}</h3>
        <p className="jp-CellflowActions-version">
          {unreachable
            ? trans.__('The Cellflow server cannot be reached right now.')
            : !loggedIn
              ? trans.__('Log in to deploy this flow.')
              : version
                ? remote.changedSinceDeploy
                  ? spec
                    ? trans.__(
                        'Deployed version %1; the notebook changed since.',
                        String(version.version)
                      )
                    : trans.__(
                        'Deployed version %1; the notebook changed since and has problems to fix before it can be deployed.',
                        String(version.version)
                      )
                  : trans.__(
                      'Deployed version %1, up to date.',
                      String(version.version)
                    )
                : trans.__('Not deployed yet.')}
        </p>
        <div className="jp-CellflowActions-buttons">
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept"
            disabled={!loggedIn || !spec || remote.busy}
            onClick={() => void remote.deploy()}
          >
            {trans.__('Deploy')}
          </button>
          <button
            type="button"
            className="jp-mod-styled"
            disabled={!loggedIn || !remote.flow || invalid || remote.busy}
            onClick={() =>
              void remote.runNow(overrides, {
                refreshCache: caches && refreshCache
              })
            }
          >
            {trans.__('Run now')}
          </button>
          <button
            type="button"
            className="jp-mod-styled"
            disabled={!spec || target.flow.isRunning}
            onClick={() => void commands.execute(CommandIDs.runHere)}
          >
            {trans.__('Run here')}
          </button>
        </div>
        {caches && (
          <label
            className="jp-CellflowActions-refreshCache"
            title={trans.__(
              'Run now skips cached task results: tasks with --cache-for run again and store fresh results. Run here never uses the cache.'
            )}
          >
            <input
              type="checkbox"
              checked={refreshCache}
              onChange={event => setRefreshCache(event.currentTarget.checked)}
            />
            {trans.__('Refresh cache')}
          </label>
        )}
        {remote.error && (
          <p className="jp-CellflowError" role="alert">
            {remote.error}
          </p>
        )}
      </section>
      {parameters.length > 0 && (
        <section aria-label={trans.__('Parameters')}>
          <h3 className="jp-CellflowSection-title">{trans.__('Parameters')}</h3>
          {parameters.map((p, i) => (
            <ParameterField
              key={p.name}
              parameter={p}
              text={values[p.name]}
              error={checked[i].error}
              trans={trans}
              onChange={text => setValues({ ...values, [p.name]: text })}
            />
          ))}
        </section>
      )}
      {selected && (
        <TaskSettingsForm
          key={selected.name}
          task={selected}
          tasks={spec?.tasks ?? []}
          target={target}
          trans={trans}
        />
      )}
    </div>
  );
}

interface ICheckedParameter {
  given: boolean;
  value?: unknown;
  error?: string;
}

/** A typed field's text checked against its parameter's type, as the server will check it. */
function checkParameter(
  parameter: ParameterSpec,
  text: string | undefined
): ICheckedParameter {
  if (text === undefined || text === '') {
    return parameter.required && parameter.default === null
      ? { given: false, error: `parameter "${parameter.name}" is required` }
      : { given: false };
  }
  const result = coerceParameterValue(parameter, text, { fromText: true });
  return result.ok
    ? { given: true, value: result.value }
    : { given: true, error: result.message };
}

function ParameterField(props: {
  parameter: ParameterSpec;
  text: string | undefined;
  error?: string;
  trans: TranslationBundle;
  onChange: (text: string) => void;
}): JSX.Element {
  const { parameter: p, text, error, trans, onChange } = props;
  const id = `jp-CellflowParameter-${p.name}`;
  const placeholder = p.default === null ? '' : JSON.stringify(p.default);
  const label = (
    <>
      <span className="jp-CellflowField-name">{p.name}</span>
      {p.required && (
        <span
          className="jp-CellflowField-required"
          aria-label={trans.__('required')}
        >
          *
        </span>
      )}
      <span className="jp-CellflowField-type">{p.type}</span>
      {p.description && (
        <span className="jp-CellflowField-description">{p.description}</span>
      )}
    </>
  );
  return (
    <div className="jp-CellflowField" data-parameter={p.name}>
      <label htmlFor={id}>{label}</label>
      {p.type === 'boolean' ? (
        <select
          id={id}
          className="jp-mod-styled"
          value={text ?? ''}
          onChange={e => onChange(e.target.value)}
        >
          <option value="">{trans.__('default (%1)', placeholder)}</option>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      ) : p.type === 'json' ? (
        <textarea
          id={id}
          className="jp-mod-styled"
          value={text ?? ''}
          placeholder={placeholder}
          onChange={e => onChange(e.target.value)}
        />
      ) : (
        <input
          id={id}
          className="jp-mod-styled"
          type="text"
          inputMode={p.type === 'string' ? 'text' : 'decimal'}
          value={text ?? ''}
          placeholder={placeholder}
          onChange={e => onChange(e.target.value)}
        />
      )}
      {error && (
        <p className="jp-CellflowError" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** Retries, retry delay, backoff, timeout and dependencies of the selected task, written to its cell. */
function TaskSettingsForm(props: {
  task: TaskSpec;
  tasks: TaskSpec[];
  target: IFlowTarget;
  trans: TranslationBundle;
}): JSX.Element {
  const { task, tasks, target, trans } = props;
  const cell = () => {
    const cells = target.flow.panel.content.model?.cells;
    for (let i = 0; cells && i < cells.length; i++) {
      if (cells.get(i).id === task.cellId) {
        return cells.get(i);
      }
    }
    return null;
  };
  const [error, setError] = useState<string | null>(null);
  const apply = (field: string, raw: string) => {
    const model = cell();
    if (!model) {
      return;
    }
    const number = Number(raw);
    const whole = field === 'retries';
    if (field === 'timeout' && raw.trim() === '') {
      updateTaskSettings(model, { timeout: null });
    } else if (
      raw.trim() === '' ||
      !Number.isFinite(number) ||
      number < (field === 'backoff' ? 1 : 0) ||
      (whole && !Number.isInteger(number)) ||
      (field === 'timeout' && number <= 0)
    ) {
      setError(
        trans.__(
          '%1 of task %2 must be %3, got "%4"',
          field,
          task.name,
          whole
            ? trans.__('a whole number ≥ 0')
            : field === 'backoff'
              ? trans.__('a number ≥ 1')
              : field === 'timeout'
                ? trans.__('a number > 0 (or empty: no limit)')
                : trans.__('a number ≥ 0'),
          raw
        )
      );
      return;
    } else {
      updateTaskSettings(model, { [field]: number });
    }
    setError(null);
    target.flow.refresh();
  };
  const numberField = (
    field: 'retries' | 'retryDelay' | 'backoff' | 'timeout',
    label: string
  ) => (
    <label className="jp-CellflowTaskSettings-field">
      {label}
      <input
        className="jp-mod-styled"
        name={field}
        type="number"
        min={field === 'backoff' ? 1 : 0}
        step={field === 'retries' ? 1 : 'any'}
        defaultValue={task[field] === null ? '' : String(task[field])}
        onBlur={e => apply(field, e.target.value)}
        onKeyDown={e => {
          if (e.key === 'Enter') {
            apply(field, (e.target as HTMLInputElement).value);
          }
        }}
      />
    </label>
  );
  // Not the tasks downstream of this one: running after one of them would make a cycle.
  const others = possibleUpstream(tasks, task.name);
  return (
    <section
      aria-label={trans.__('Task %1', task.name)}
      className="jp-CellflowTaskSettings"
    >
      <h3 className="jp-CellflowSection-title">
        {trans.__('Task %1', task.name)}
      </h3>
      {numberField('retries', trans.__('Retries'))}
      {numberField('retryDelay', trans.__('Retry delay (s)'))}
      {numberField('backoff', trans.__('Backoff factor'))}
      {numberField('timeout', trans.__('Timeout (s)'))}
      <fieldset className="jp-CellflowTaskSettings-after">
        <legend>{trans.__('Runs after')}</legend>
        {others.map(other => (
          <label key={other.name} data-task={other.name}>
            <input
              type="checkbox"
              checked={task.upstream.includes(other.name)}
              onChange={e => {
                const model = cell();
                if (!model) {
                  return;
                }
                const after = e.target.checked
                  ? [...task.upstream, other.name]
                  : task.upstream.filter(n => n !== other.name);
                updateTaskSettings(model, { after });
                target.flow.refresh();
              }}
            />
            {other.name}
          </label>
        ))}
      </fieldset>
      {error && (
        <p className="jp-CellflowError" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

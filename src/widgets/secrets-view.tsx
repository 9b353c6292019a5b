import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Time } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { ConnectionModel } from '../model/connection-model.js';
import { checkSecretName, SecretsModel } from '../model/secrets-model.js';

/** How often "set 3 min. ago" is redrawn. */
const AGE_REDRAW_MS = 30_000;

/**
 * Secrets of the logged-in workspace, folded by default: their names and when they were set, a form
 * to add or replace one (the value typed in a password field, sent once and cleared), and delete
 * with a confirmation.
 */
export class SecretsView extends ReactWidget {
  constructor(
    private readonly model: SecretsModel,
    private readonly connection: ConnectionModel,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CellflowSecrets');
    model.changed.connect(this.update, this);
    connection.changed.connect(this.update, this);
    this._timer = window.setInterval(() => this.update(), AGE_REDRAW_MS);
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this.model.changed.disconnect(this.update, this);
    this.connection.changed.disconnect(this.update, this);
    super.dispose();
  }

  protected render(): JSX.Element | null {
    const status = this.connection.status;
    if (status !== 'loggedIn' && status !== 'unreachable') {
      return null;
    }
    return (
      <Secrets
        model={this.model}
        disabled={status !== 'loggedIn'}
        trans={this.trans}
      />
    );
  }

  private _timer: number;
}

function Secrets(props: {
  model: SecretsModel;
  disabled: boolean;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, disabled, trans } = props;
  // The value lives in this form only until the save succeeds.
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const trimmed = name.trim();
  const replacing = model.has(trimmed);
  const error = model.error;
  const nameProblem =
    (trimmed ? checkSecretName(trimmed) : null) ??
    (error?.field === 'name' ? error.message : null);
  const valueProblem = error?.field === 'value' ? error.message : null;
  const otherProblem =
    error && error.field !== 'name' && error.field !== 'value'
      ? error.message
      : null;

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (await model.set(trimmed, value)) {
      setName('');
      setValue('');
    }
  };
  const remove = async (secret: string) => {
    const result = await showDialog({
      title: trans.__('Delete the secret %1?', secret),
      body: trans.__(
        'Flow runs started from now on no longer get %1 in their environment.',
        secret
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Delete') })
      ]
    });
    if (result.button.accept) {
      await model.remove(secret);
    }
  };

  return (
    // One line until opened: secrets are set now and then, the flow below is what the panel is for.
    <details className="jp-CellflowSecrets-details">
      <summary className="jp-CellflowSection-title">
        {model.secrets.length > 0
          ? trans.__('Secrets (%1)', String(model.secrets.length))
          : trans.__('Secrets')}
      </summary>
      <p className="jp-CellflowHint">
        {trans.__(
          'Available to this workspace’s flows as environment variables (os.environ); masked as *** in logs.'
        )}
      </p>
      {model.secrets.length === 0 && !model.loading && !otherProblem && (
        <p className="jp-CellflowHint">{trans.__('No secret yet.')}</p>
      )}
      <ul className="jp-CellflowSecrets-list">
        {model.secrets.map(s => (
          <li key={s.name} className="jp-CellflowSecret" data-secret={s.name}>
            <code className="jp-CellflowSecret-name">{s.name}</code>
            <span
              className="jp-CellflowSecret-age"
              title={Time.format(s.updatedAt)}
            >
              {trans.__('set %1', Time.formatHuman(s.updatedAt, 'short'))}
            </span>
            <button
              type="button"
              className="jp-mod-styled jp-mod-warn jp-CellflowSecret-delete"
              aria-label={trans.__('Delete the secret %1', s.name)}
              title={trans.__('Delete the secret %1', s.name)}
              disabled={disabled || model.busy}
              onClick={() => void remove(s.name)}
            >
              {trans.__('Delete')}
            </button>
          </li>
        ))}
      </ul>
      <form
        className="jp-CellflowSecrets-form"
        aria-label={trans.__('Add a secret')}
        autoComplete="off"
        onSubmit={submit}
      >
        <label>
          {trans.__('Name')}
          <input
            className="jp-mod-styled"
            name="secret-name"
            value={name}
            onChange={e => {
              setName(e.target.value);
              model.clearError();
            }}
            placeholder="API_TOKEN"
            spellCheck={false}
            autoComplete="off"
            aria-invalid={nameProblem !== null}
            required
          />
          {nameProblem && (
            <span className="jp-CellflowError" role="alert">
              {nameProblem}
            </span>
          )}
        </label>
        <label>
          {trans.__('Value')}
          <input
            className="jp-mod-styled"
            name="secret-value"
            type="password"
            value={value}
            onChange={e => {
              setValue(e.target.value);
              model.clearError();
            }}
            autoComplete="off"
            aria-invalid={valueProblem !== null}
            required
          />
          {valueProblem && (
            <span className="jp-CellflowError" role="alert">
              {valueProblem}
            </span>
          )}
        </label>
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={disabled || model.busy || nameProblem !== null}
        >
          {replacing ? trans.__('Replace') : trans.__('Add')}
        </button>
      </form>
      {otherProblem && (
        <p className="jp-CellflowError" role="alert">
          {otherProblem}
        </p>
      )}
    </details>
  );
}

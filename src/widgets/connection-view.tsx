import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { ConnectionModel } from '../model/connection-model.js';

/** The default Cellflow server of a local start (scripts/start.sh). */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8787';

/**
 * Connection: log in to a Cellflow server with an API key, see who you are, log out. A lab without a
 * profile is on its own local server ("local"), with an offer to log in to another. A lost server
 * shows as a banner while the event streams reconnect.
 */
export class ConnectionView extends ReactWidget {
  constructor(
    private readonly model: ConnectionModel,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CellflowConnection');
    model.changed.connect(this.update, this);
  }

  dispose(): void {
    this.model.changed.disconnect(this.update, this);
    super.dispose();
  }

  protected render(): JSX.Element {
    return <Connection model={this.model} trans={this.trans} />;
  }
}

function Connection(props: {
  model: ConnectionModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  // What the user typed survives re-renders and a failed login (or an expired session).
  const [url, setUrl] = useState(model.url ?? DEFAULT_SERVER_URL);
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  // On the local server, the login form shows only when the user asks for another server.
  const [choosing, setChoosing] = useState(false);

  if (model.status === 'checking') {
    return (
      <p className="jp-CellflowConnection-status">
        {model.starting
          ? trans.__(
              'Starting the local Cellflow server… (a first start creates its store: up to a minute)'
            )
          : trans.__('Checking the connection…')}
      </p>
    );
  }
  const onServer =
    model.status === 'loggedIn' || model.status === 'unreachable';
  if (onServer && !(model.local && choosing)) {
    const me = model.me;
    return (
      <div className="jp-CellflowConnection-who">
        {model.status === 'unreachable' && (
          <p className="jp-CellflowBanner jp-mod-warning" role="alert">
            {trans.__(
              'Connection to the Cellflow server lost; reconnecting… %1',
              model.error ?? ''
            )}
          </p>
        )}
        <p className="jp-CellflowConnection-status">
          {model.local
            ? trans.__(
                'Workspace %1 on the local server (started by this lab)',
                me?.workspace.name ?? ''
              )
            : me
              ? trans.__(
                  'Workspace %1 (key “%2”) at %3',
                  me.workspace.name,
                  me.key.name,
                  model.url ?? ''
                )
              : trans.__('Logged in at %1', model.url ?? '')}
        </p>
        {model.local ? (
          <button
            type="button"
            className="jp-mod-styled"
            onClick={() => setChoosing(true)}
          >
            {trans.__('Log in to another server')}
          </button>
        ) : (
          <button
            type="button"
            className="jp-mod-styled jp-mod-reject"
            onClick={() => void model.logout()}
          >
            {trans.__('Log out')}
          </button>
        )}
      </div>
    );
  }
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    const ok = await model.login(url.trim(), key.trim());
    setBusy(false);
    if (ok) {
      setKey('');
      setChoosing(false);
    }
  };
  return (
    <form
      className="jp-CellflowConnection-form"
      onSubmit={submit}
      aria-label={trans.__('Log in')}
    >
      <label>
        {trans.__('Server URL')}
        <input
          className="jp-mod-styled"
          name="url"
          type="url"
          value={url}
          onChange={e => setUrl(e.target.value)}
          required
        />
      </label>
      <label>
        {trans.__('API key')}
        <input
          className="jp-mod-styled"
          name="key"
          type="password"
          autoComplete="off"
          value={key}
          onChange={e => setKey(e.target.value)}
          placeholder="cf_…"
          required
        />
      </label>
      {model.error && (
        <p className="jp-CellflowError" role="alert">
          {model.error}
        </p>
      )}
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept"
        disabled={busy}
      >
        {busy ? trans.__('Logging in…') : trans.__('Log in')}
      </button>
      {choosing && onServer && (
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => setChoosing(false)}
        >
          {trans.__('Stay on the local server')}
        </button>
      )}
      <p className="jp-CellflowHint">
        {trans.__(
          'Create a key with “cellflow keys create --workspace NAME --name LABEL”. The key is kept by the lab’s server in your Cellflow profile, never in the notebook or the browser.'
        )}
      </p>
    </form>
  );
}

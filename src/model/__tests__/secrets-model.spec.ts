import { describe, expect, it } from 'vitest';

import { ConnectionModel } from '../connection-model.js';
import { checkSecretName, SecretsModel } from '../secrets-model.js';
import { FakeTransport } from './fake-transport.js';

const VALUE = 'tok-8c1f0e2d-do-not-leak';

/** Let the model's requests (and the refresh after each change) answer. */
async function settle(model: SecretsModel): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
    if (!model.loading && !model.busy) {
      return;
    }
  }
  throw new Error('the secrets model did not settle');
}

/** Every string reachable from `root` through its own properties (private fields included). */
function reachableStrings(root: unknown): string[] {
  const seen = new WeakSet<object>();
  const strings: string[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      strings.push(value);
    } else if (value && typeof value === 'object' && !seen.has(value)) {
      seen.add(value);
      for (const key of Reflect.ownKeys(value)) {
        visit((value as Record<string | symbol, unknown>)[key]);
      }
    }
  };
  visit(root);
  return strings;
}

/** A logged-in model on a fake transport, with its list loaded. */
async function loggedIn(transport = new FakeTransport()) {
  const connection = new ConnectionModel(transport.client());
  const model = new SecretsModel(connection);
  const payloads: unknown[] = [];
  model.changed.connect((_, payload) => payloads.push(payload));
  await connection.login('http://cellflow.test', 'cf_main');
  await settle(model);
  return { transport, connection, model, payloads };
}

describe('checkSecretName', () => {
  it('takes environment variable names and refuses the reserved ones, as the server does', () => {
    expect(checkSecretName('API_TOKEN')).toBeNull();
    expect(checkSecretName('_x1')).toBeNull();
    expect(checkSecretName('1ABC')).toMatch(/environment variable name/);
    expect(checkSecretName('A-B')).toMatch(/environment variable name/);
    expect(checkSecretName('A'.repeat(129))).toMatch(/at most 128/);
    expect(checkSecretName('path')).toMatch(/reserved/);
    expect(checkSecretName('CELLFLOW_KEY')).toMatch(/starting CELLFLOW_/);
    expect(checkSecretName('LC_ALL')).toMatch(/starting LC_/);
    expect(checkSecretName('JPY_SESSION')).toMatch(/starting JPY_/);
    expect(checkSecretName('LD_PRELOAD')).toMatch(/starting LD_/);
    expect(checkSecretName('PYTHONPATH')).toMatch(/starting PYTHON/);
  });
});

describe('SecretsModel', () => {
  it('lists the workspace’s secrets by name once logged in', async () => {
    const transport = new FakeTransport();
    const main = transport.workspace('cf_main').secrets;
    for (const name of ['ZED', 'API_TOKEN']) {
      main.set(name, {
        name,
        value: VALUE,
        createdAt: '2026-01-01T10:00:00.000Z',
        updatedAt: '2026-01-01T11:00:00.000Z'
      });
    }
    const { model } = await loggedIn(transport);
    expect(model.secrets.map(s => s.name)).toEqual(['API_TOKEN', 'ZED']);
    expect(model.secrets[0]).toEqual({
      name: 'API_TOKEN',
      createdAt: '2026-01-01T10:00:00.000Z',
      updatedAt: '2026-01-01T11:00:00.000Z'
    });
    expect(model.loading).toBe(false);
    expect(model.error).toBeNull();
    expect(transport.requestsTo('cellflow/api/')).toEqual([
      { method: 'GET', path: 'cellflow/api/secrets', body: null }
    ]);
  });

  it('is loading while the list is on its way', async () => {
    const transport = new FakeTransport();
    const connection = new ConnectionModel(transport.client());
    const model = new SecretsModel(connection);
    await connection.login('http://cellflow.test', 'cf_main');
    expect(model.loading).toBe(true);
    await settle(model);
    expect(model.loading).toBe(false);
  });

  it('sends a value once, in the PUT body, and keeps nothing of it', async () => {
    const { transport, model, payloads } = await loggedIn();
    transport.requests.length = 0;

    expect(await model.set('API_TOKEN', VALUE)).toBe(true);
    await settle(model);

    const puts = transport.requests.filter(r => r.method === 'PUT');
    expect(puts).toEqual([
      {
        method: 'PUT',
        path: 'cellflow/api/secrets/API_TOKEN',
        body: JSON.stringify({ value: VALUE })
      }
    ]);
    // The value went nowhere else: no other request carries it.
    expect(transport.requests.filter(r => r.body?.includes(VALUE)).length).toBe(
      1
    );
    expect(model.secrets.map(s => s.name)).toEqual(['API_TOKEN']);
    expect(model.has('API_TOKEN')).toBe(true);
    expect(transport.workspace('cf_main').secrets.get('API_TOKEN')?.value).toBe(
      VALUE
    );
    // Not in the state, not in any signal payload, nowhere reachable from the model.
    expect(JSON.stringify([model.secrets, model.error])).not.toContain(VALUE);
    expect(payloads.every(p => p === undefined)).toBe(true);
    expect(reachableStrings(model).some(s => s.includes(VALUE))).toBe(false);
  });

  it('replaces a secret: one row, its new time', async () => {
    const { transport, model } = await loggedIn();
    await model.set('API_TOKEN', 'first');
    await settle(model);
    transport.now += 5 * 60_000;
    expect(await model.set('API_TOKEN', 'second')).toBe(true);
    await settle(model);
    expect(model.secrets).toHaveLength(1);
    expect(model.secrets[0].updatedAt).toBe('2026-01-01T12:05:00.000Z');
    expect(model.secrets[0].createdAt).toBe('2026-01-01T12:00:00.000Z');
    expect(reachableStrings(model)).not.toContain('second');
  });

  it('deletes a secret; one already gone is dropped from the list all the same', async () => {
    const { transport, model } = await loggedIn();
    await model.set('API_TOKEN', VALUE);
    await model.set('OTHER', VALUE);
    await settle(model);

    expect(await model.remove('API_TOKEN')).toBe(true);
    await settle(model);
    expect(
      transport.requests.filter(r => r.method === 'DELETE').map(r => r.path)
    ).toEqual(['cellflow/api/secrets/API_TOKEN']);
    expect(model.secrets.map(s => s.name)).toEqual(['OTHER']);

    // Deleted elsewhere meanwhile (404): no error, the row goes.
    transport.workspace('cf_main').secrets.delete('OTHER');
    expect(await model.remove('OTHER')).toBe(true);
    await settle(model);
    expect(model.secrets).toEqual([]);
    expect(model.error).toBeNull();
  });

  it('refuses a bad name at once, naming the field, without a request', async () => {
    const { transport, model } = await loggedIn();
    transport.requests.length = 0;
    expect(await model.set('1-token', VALUE)).toBe(false);
    expect(model.error).toEqual({
      message: expect.stringContaining('environment variable name'),
      field: 'name'
    });
    expect(await model.set('PATH', VALUE)).toBe(false);
    expect(model.error?.field).toBe('name');
    expect(model.error?.message).toMatch(/PATH is reserved/);
    expect(transport.requests).toEqual([]);
    expect(reachableStrings(model).some(s => s.includes(VALUE))).toBe(false);
  });

  it('shows the server’s 400 with the field it names, and never the value', async () => {
    const { transport, model } = await loggedIn();
    const bad = `${VALUE}\0`;
    expect(await model.set('API_TOKEN', bad)).toBe(false);
    expect(model.error?.field).toBe('value');
    expect(model.error?.message).toMatch(/secret value/);
    expect(model.secrets).toEqual([]);
    expect(reachableStrings(model).some(s => s.includes(VALUE))).toBe(false);
    // The server's name check answers the same way (here reached by a direct call of the client).
    const refused = await transport
      .client()
      .setSecret('HOME', VALUE)
      .catch(e => e);
    expect(refused.status).toBe(400);
    expect(refused.body.field).toBe('name');
  });

  it('forgets the list on logout and loads the new workspace’s list on login', async () => {
    const { transport, connection, model } = await loggedIn();
    await model.set('MAIN_ONLY', VALUE);
    await settle(model);
    transport.workspace('cf_other').secrets.set('OTHER_ONLY', {
      name: 'OTHER_ONLY',
      value: VALUE,
      createdAt: '2026-01-01T09:00:00.000Z',
      updatedAt: '2026-01-01T09:00:00.000Z'
    });

    await connection.logout();
    await settle(model);
    expect(model.secrets).toEqual([]);

    transport.requests.length = 0;
    await connection.login('http://cellflow.test', 'cf_other');
    await settle(model);
    expect(model.secrets.map(s => s.name)).toEqual(['OTHER_ONLY']);
    expect(transport.requestsTo('cellflow/api/')).toEqual([
      { method: 'GET', path: 'cellflow/api/secrets', body: null }
    ]);

    // The server lost and found again is the same login: no reload.
    transport.requests.length = 0;
    connection.setReachable(false, 'lost');
    connection.setReachable(true);
    await settle(model);
    expect(transport.requests).toEqual([]);
  });

  it('drops a listing that answers after the user logged out', async () => {
    const { transport, connection, model } = await loggedIn();
    await model.set('API_TOKEN', VALUE);
    await settle(model);
    transport.holding = true;
    void model.refresh();
    transport.holding = false;
    await connection.logout();
    transport.release();
    await settle(model);
    expect(model.secrets).toEqual([]);
  });

  it('a revoked key asks to log in again', async () => {
    const { transport, connection, model } = await loggedIn();
    transport.revoked = true;
    expect(await model.set('API_TOKEN', VALUE)).toBe(false);
    await settle(model);
    expect(connection.status).toBe('loggedOut');
    expect(connection.error).toMatch(/revoked/);
    expect(model.secrets).toEqual([]);
  });
});

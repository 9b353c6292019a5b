import { describe, expect, it } from 'vitest';

import { ConnectionModel } from '../connection-model.js';
import { FakeTransport } from './fake-transport.js';

describe('ConnectionModel', () => {
  it('is on the local server when the lab has no profile and local mode is on', async () => {
    const transport = new FakeTransport();
    transport.localKey = 'cf_main';
    const connection = new ConnectionModel(transport.client());
    await connection.refresh();
    expect(connection.status).toBe('loggedIn');
    expect(connection.local).toBe(true);
    expect(connection.me?.workspace.name).toBe(
      transport.workspace('cf_main').name
    );
  });

  it('says the local server is starting, then waits for it with a second session request', async () => {
    const transport = new FakeTransport();
    transport.localKey = 'cf_main';
    transport.localStarting = true;
    const connection = new ConnectionModel(transport.client());
    const seen: boolean[] = [];
    connection.changed.connect(() => seen.push(connection.starting));
    await connection.refresh();
    expect(seen).toEqual([true, false]);
    expect(connection.status).toBe('loggedIn');
    expect(connection.local).toBe(true);
    expect(transport.requestsTo('cellflow/session')).toHaveLength(2);
  });

  it('logs in to another server from local mode, and logging out goes back to local', async () => {
    const transport = new FakeTransport();
    transport.localKey = 'cf_main';
    const connection = new ConnectionModel(transport.client());
    await connection.refresh();

    expect(await connection.login('http://cellflow.test', 'cf_other')).toBe(
      true
    );
    expect(connection.local).toBe(false);
    expect(connection.url).toBe('http://cellflow.test');
    expect(connection.me?.workspace.name).toBe(
      transport.workspace('cf_other').name
    );

    await connection.logout();
    expect(connection.status).toBe('loggedIn');
    expect(connection.local).toBe(true);
    expect(connection.me?.workspace.name).toBe(
      transport.workspace('cf_main').name
    );
  });

  it('stays logged out after logging out when local mode is off', async () => {
    const transport = new FakeTransport();
    const connection = new ConnectionModel(transport.client());
    await connection.login('http://cellflow.test', 'cf_main');
    await connection.logout();
    expect(connection.status).toBe('loggedOut');
    expect(connection.local).toBe(false);
  });
});

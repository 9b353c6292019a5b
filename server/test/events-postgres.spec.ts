import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresEventHub } from '../src/events/postgres-hub.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

let pg: TestPostgres;
let hubs: PostgresEventHub[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  // Two processes' hubs on one database.
  hubs = [
    await PostgresEventHub.open(pg.url),
    await PostgresEventHub.open(pg.url)
  ];
}, 120000);

afterAll(async () => {
  await Promise.all(hubs.map(h => h.close()));
  await pg?.stop();
});

describe('PostgresEventHub', () => {
  it("delivers one server's notify to another server's listeners, for that workspace only", async () => {
    const [a, b] = hubs;
    const heardOnB = new Promise<string>(resolve => {
      const stop = b.subscribe('ws-1', () => {
        stop();
        resolve('ws-1');
      });
    });
    let otherWorkspace = 0;
    const stopOther = b.subscribe('ws-2', () => otherWorkspace++);
    let local = 0;
    const stopLocal = a.subscribe('ws-1', () => local++);

    a.notify('ws-1');
    expect(await heardOnB).toBe('ws-1');
    // The sender's own listeners heard it at once, and only once (its NOTIFY coming back is ignored):
    // a round trip through the database proves the echo has arrived.
    const echo = new Promise<void>(resolve => {
      const stop = a.subscribe('ws-3', () => {
        stop();
        resolve();
      });
    });
    b.notify('ws-3');
    await echo;
    expect(local).toBe(1);
    expect(otherWorkspace).toBe(0);
    stopOther();
    stopLocal();
  });
});

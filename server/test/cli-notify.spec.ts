/**
 * `cellflow notify` and `cellflow notifications` as users run them, against a real `cellflow server`
 * child: a run that really fails on a kernel sends one signed message to a local webhook receiver,
 * naming the task and its error, with a link under the server's --public-url.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { signBody } from '../src/notifications/senders.js';
import {
  cellflow,
  createKey,
  startServer,
  stopChild,
  VENV_PYTHON,
  type Result,
  type ServerChild
} from './support/cli-child.js';
import { startReceiver, type Receiver } from './support/notify-fixture.js';

const SECRET = 'cli-signing-secret';
let dir: string;
let server: ServerChild;
let receiver: Receiver;
let env: Record<string, string>;

const run = (args: string[]): Promise<Result> => cellflow(args, env);

async function until<T>(what: string, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = check();
    if (found !== undefined) {
      return found;
    }
    expect(Date.now(), `${what} within 30 s`).toBeLessThan(deadline);
    await new Promise(r => setTimeout(r, 100));
  }
}

describe.skipIf(!existsSync(VENV_PYTHON))('cellflow notify', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cellflow-cli-notify-'));
    receiver = await startReceiver();
    server = await startServer(join(dir, 'data'), [
      '--public-url',
      'http://lab.example.test:8888/'
    ]);
    const key = await createKey(server, 'team', join(dir, 'no-config'));
    env = {
      CELLFLOW_API_URL: server.url,
      CELLFLOW_API_KEY: key,
      CELLFLOW_CONFIG_DIR: join(dir, 'no-config')
    };
    const path = join(dir, 'failing.ipynb');
    await writeFile(
      path,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { cellflow: { name: 'failing' } },
        cells: [
          '%%task extract\nx = 1',
          '%%task load\nraise ValueError("boom")'
        ].map((source, i) => ({
          cell_type: 'code',
          id: `cell-${i}`,
          metadata: {},
          source,
          outputs: [],
          execution_count: null
        }))
      })
    );
    const deployed = await run(['deploy', path]);
    expect(deployed.code, deployed.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await stopChild(server?.process);
    await receiver?.close();
    if (dir) {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('adds, lists, tests and removes a rule; a really failed run sends one signed message', async () => {
    const noDestination = await run(['notify', 'add', '--on', 'Failed']);
    expect(noDestination.code).toBe(2);
    const badEvent = await run([
      'notify',
      'add',
      '--on',
      'Exploded',
      '--slack',
      receiver.url
    ]);
    expect(badEvent.code).toBe(2);

    const added = await run([
      'notify',
      'add',
      '--flow',
      'failing',
      '--on',
      'failed,Crashed',
      '--webhook',
      `${receiver.url}/hooks/PATH-TOKEN`,
      '--secret',
      SECRET
    ]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain(
      `Failed,Crashed of flow failing to webhook ${receiver.url}/…`
    );
    const short = /Added rule ([0-9a-f]{8})/.exec(added.stdout)![1];

    const listed = await run(['notify', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(short);
    expect(listed.stdout).toContain('failing');
    expect(listed.stdout).not.toContain('PATH-TOKEN');
    expect(listed.stdout).not.toContain(SECRET);

    const tested = await run(['notify', 'test', short]);
    expect(tested.code, tested.stderr).toBe(0);
    expect(receiver.received.map(r => r.headers['x-cellflow-event'])).toEqual([
      'Test'
    ]);

    const started = await run(['run', 'failing', '--watch']);
    expect(started.code).toBe(1);
    const runId = started.stdout.split('\n')[0].trim();
    const message = await until('the Failed message', () =>
      receiver.received.find(r => r.headers['x-cellflow-event'] === 'Failed')
    );
    expect(message.path).toBe('/hooks/PATH-TOKEN');
    expect(message.headers['x-cellflow-signature-256']).toBe(
      signBody(SECRET, message.body)
    );
    expect(JSON.parse(message.body)).toMatchObject({
      event: 'Failed',
      flowName: 'failing',
      runId,
      failedTask: 'load',
      errorLine: 'ValueError: boom',
      link: `http://lab.example.test:8888/lab?cellflow-run=${runId}`
    });

    // Recorded just after the message arrived: the listing shows it Delivered.
    let listing = await run(['notifications']);
    for (let i = 0; i < 50 && !listing.stdout.includes('Delivered'); i++) {
      await new Promise(r => setTimeout(r, 200));
      listing = await run(['notifications']);
    }
    expect(listing.code, listing.stderr).toBe(0);
    expect(listing.stdout).toContain('Delivered');
    expect(listing.stdout).toContain(runId.slice(0, 8));
    expect(listing.stdout).toContain('Failed');
    expect(listing.stdout).not.toContain('PATH-TOKEN');
    // One message per failed run: nothing more arrives.
    await new Promise(r => setTimeout(r, 2500));
    expect(
      receiver.received.filter(r => r.headers['x-cellflow-event'] === 'Failed')
    ).toHaveLength(1);

    const removed = await run(['notify', 'remove', short]);
    expect(removed.code, removed.stderr).toBe(0);
    const empty = await run(['notify', 'list']);
    expect(empty.stderr).toContain('No notification rules');
  }, 120_000);
});

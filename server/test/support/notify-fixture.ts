/**
 * The notification tests' outside world: an HTTP receiver on 127.0.0.1 that records what it is sent
 * (and answers what the test says), a local SMTP server, and a run driven to Failed through the
 * store's own transitions, as the run service records one.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { SMTPServer } from 'smtp-server';

import { SecretBox } from '../../src/secrets/secret-box.js';
import { WorkspaceSecrets } from '../../src/secrets/workspace-secrets.js';
import type { Store } from '../../src/store/store.js';
import { deploy, notebook } from '../runs-helpers.js';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** The status answered to the next requests (default 200). */
  status: number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const receiver = { received, status: 200 } as Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8')
      });
      res.writeHead(receiver.status).end('ok');
    });
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  receiver.url = `http://127.0.0.1:${port}`;
  receiver.close = () => new Promise(r => server.close(() => r()));
  return receiver;
}

export interface Mail {
  from: string;
  to: string[];
  data: string;
}

export async function startSmtp(): Promise<{
  url: string;
  mails: Mail[];
  close(): Promise<void>;
}> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', c => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom
            ? session.envelope.mailFrom.address
            : '',
          to: session.envelope.rcptTo.map(r => r.address),
          data: Buffer.concat(chunks).toString('utf8')
        });
        callback();
      });
    }
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    close: () => new Promise(r => server.close(() => r()))
  };
}

/** A new secrets service with a random key (as a server's, kept apart from the store). */
export function testSecrets(store: Store, key: Buffer = randomBytes(32)) {
  return new WorkspaceSecrets(store, new SecretBox(key));
}

export async function deployEtl(
  store: Store,
  workspaceId: string,
  name = 'etl'
) {
  const { flow } = await deploy(
    store,
    workspaceId,
    name,
    notebook(['%%task extract\nx = 1', '%%task load\nraise ValueError("boom")'])
  );
  return flow;
}

/** A run of the flow taken to `end` as the run service records it: task extract Completed, load ends `end`. */
export async function endRun(
  store: Store,
  workspaceId: string,
  flowId: string,
  end: 'Failed' | 'Completed' = 'Failed'
) {
  const run = await store.createRun({ workspaceId, flowId, trigger: 'manual' });
  await store.claimNextPendingRun({
    owner: 'test',
    leaseMs: 60_000,
    workspaceId
  });
  const [extract, load] = await store.createTaskRuns(run.id, [
    'extract',
    'load'
  ]);
  await store.transitionTaskRun(extract.id, 'Running');
  await store.transitionTaskRun(extract.id, 'Completed');
  await store.transitionTaskRun(load.id, 'Running');
  await store.transitionTaskRun(
    load.id,
    end,
    end === 'Failed'
      ? {
          error: 'Traceback...\nValueError: boom',
          attemptError: {
            name: 'ValueError',
            value: 'boom',
            traceback: [
              'Traceback (most recent call last):',
              'ValueError: boom'
            ]
          }
        }
      : {}
  );
  return store.transitionRun(
    run.id,
    end,
    end === 'Failed' ? { error: 'task load failed' } : {}
  );
}

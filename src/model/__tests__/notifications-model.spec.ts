import { afterEach, describe, expect, it, vi } from 'vitest';

import type { INotificationDelivery } from '../../api/types.js';
import { ConnectionModel } from '../connection-model.js';
import {
  DELIVERY_POLL_MS,
  NotificationsModel
} from '../notifications-model.js';
import { FakeTransport } from './fake-transport.js';

/** Let the model's requests (and the reload after each action) answer. */
async function settle(model: NotificationsModel): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
    if (!model.loading && !model.busy) {
      return;
    }
  }
  throw new Error('the notifications model did not settle');
}

/** A logged-in client, flows `f1` and `f2` on the fake server, and f1's model loaded. */
async function loaded() {
  const transport = new FakeTransport();
  transport.addFlow('cf_main', 'f1');
  transport.addFlow('cf_main', 'f2');
  const connection = new ConnectionModel(transport.client());
  await connection.login('http://cellflow.test', 'cf_main');
  const model = new NotificationsModel({
    client: transport.client(),
    flowId: 'f1'
  });
  await model.refresh();
  await settle(model);
  return { transport, model };
}

function delivery(
  id: string,
  flowId: string,
  state: INotificationDelivery['state']
): INotificationDelivery {
  return {
    id,
    ruleId: 'r1',
    kind: 'webhook',
    target: 'http://hook…',
    flowId,
    flowRunId: `run-${id}`,
    event: 'Failed',
    state,
    attempts: state === 'Pending' ? 0 : 1,
    nextAttemptAt: null,
    lastError: null,
    failures: [],
    createdAt: '2026-01-01T12:00:00Z',
    deliveredAt: state === 'Delivered' ? '2026-01-01T12:00:01Z' : null
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('NotificationsModel', () => {
  it("adds a rule for the flow, sending its destination once, and lists the flow's and every flow's rules only", async () => {
    const { transport, model } = await loaded();
    expect(
      await model.add({
        events: ['Failed', 'Crashed'],
        kind: 'webhook',
        url: 'http://127.0.0.1:9/hook',
        secret: 's3cret'
      })
    ).toBe(true);
    expect(
      await model.add(
        { events: ['Failed'], kind: 'email', email: 'ops@example.org' },
        true
      )
    ).toBe(true);
    // A rule of another flow is not this flow's.
    await transport.client().addNotificationRule({
      flowId: 'f2',
      events: ['Failed'],
      kind: 'slack',
      url: 'https://hooks.example.com/x'
    });
    await model.refresh();

    expect(model.rules.map(r => [r.flowId, r.kind, r.events])).toEqual([
      ['f1', 'webhook', ['Failed', 'Crashed']],
      [null, 'email', ['Failed']]
    ]);
    const posts = transport
      .requestsTo('cellflow/api/notifications/rules')
      .filter(r => r.method === 'POST');
    expect(JSON.parse(posts[0].body!)).toEqual({
      events: ['Failed', 'Crashed'],
      kind: 'webhook',
      url: 'http://127.0.0.1:9/hook',
      secret: 's3cret',
      flowId: 'f1'
    });
    expect(JSON.parse(posts[1].body!).flowId).toBeNull();
    // Listing never carries a destination back in full.
    expect(JSON.stringify(model.rules)).not.toContain('s3cret');
  });

  it('refuses a rule without its destination or without events, naming the field, without a request', async () => {
    const { transport, model } = await loaded();
    expect(
      await model.add({ events: ['Failed'], kind: 'slack', url: ' ' })
    ).toBe(false);
    expect(model.error).toEqual({
      message: 'A Slack rule needs its URL',
      field: 'url'
    });
    expect(await model.add({ events: ['Failed'], kind: 'email' })).toBe(false);
    expect(model.error?.field).toBe('email');
    expect(
      await model.add({ events: [], kind: 'webhook', url: 'http://x/' })
    ).toBe(false);
    expect(model.error?.field).toBe('events');
    expect(
      await model.add({ events: ['Failed'], kind: 'webhook', url: 'http://x/' })
    ).toBe(false);
    expect(model.error?.field).toBe('secret');
    expect(
      transport
        .requestsTo('cellflow/api/notifications/rules')
        .filter(r => r.method === 'POST')
    ).toEqual([]);
  });

  it("shows the server's refusal with its field", async () => {
    const { model } = await loaded();
    expect(
      await model.add({
        events: ['Failed'],
        kind: 'webhook',
        url: 'ftp://x',
        secret: 'a-long-secret'
      })
    ).toBe(false);
    expect(model.error).toEqual({
      message: 'url must be an http(s) URL',
      field: 'url'
    });
    expect(model.rules).toEqual([]);
  });

  it('tests a destination and keeps the outcome beside the rule; removes a rule', async () => {
    const { transport, model } = await loaded();
    await model.add({
      events: ['Failed'],
      kind: 'webhook',
      url: 'http://h/',
      secret: 'a-long-secret'
    });
    const id = model.rules[0].id;
    transport.testOutcome = 'HTTP 500';
    expect(await model.test(id)).toBe(true);
    expect(model.testResult(id)).toEqual({
      delivered: false,
      error: 'HTTP 500'
    });
    transport.testOutcome = null;
    await model.test(id);
    expect(model.testResult(id)).toEqual({ delivered: true, error: null });

    expect(await model.remove(id)).toBe(true);
    expect(model.rules).toEqual([]);
    expect(model.testResult(id)).toBeNull();
    // Gone already (another lab removed it): not an error.
    expect(await model.remove(id)).toBe(true);
    expect(model.error).toBeNull();
  });

  it("lists the flow's deliveries, and reads them again while one waits until it has an outcome", async () => {
    const { transport, model } = await loaded();
    const deliveries = transport.workspace('cf_main').deliveries;
    deliveries.push(delivery('d0', 'f2', 'Delivered'));
    vi.useFakeTimers();
    deliveries.push(delivery('d1', 'f1', 'Pending'));
    model.runEnded();
    await vi.advanceTimersByTimeAsync(0);
    expect(model.deliveries.map(d => [d.id, d.state])).toEqual([
      ['d1', 'Pending']
    ]);

    deliveries[1] = { ...deliveries[1], state: 'Delivered', attempts: 1 };
    await vi.advanceTimersByTimeAsync(DELIVERY_POLL_MS);
    expect(model.deliveries.map(d => [d.id, d.state])).toEqual([
      ['d1', 'Delivered']
    ]);
    // Nothing waits any more: no more reading.
    const reads = transport.requestsTo(
      'cellflow/api/notifications/deliveries'
    ).length;
    await vi.advanceTimersByTimeAsync(DELIVERY_POLL_MS * 5);
    expect(
      transport.requestsTo('cellflow/api/notifications/deliveries').length
    ).toBe(reads);
  });
});

import { describe, expect, it } from 'vitest';

import { SchedulesModel } from '../schedules-model.js';
import { ConnectionModel } from '../connection-model.js';
import { FakeTransport } from './fake-transport.js';

/** Let the model's requests (and the reload after each action) answer. */
async function settle(model: SchedulesModel): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
    if (!model.loading && !model.busy) {
      return;
    }
  }
  throw new Error('the schedules model did not settle');
}

/** A logged-in client, a flow `f1` on the fake server, and its model loaded. */
async function loaded(overlap: 'queue' | 'skip' | 'parallel' = 'queue') {
  const transport = new FakeTransport();
  transport.addFlow('cf_main', 'f1', { overlap, maxConcurrent: null });
  const connection = new ConnectionModel(transport.client());
  await connection.login('http://cellflow.test', 'cf_main');
  const told: string[] = [];
  const model = new SchedulesModel({
    client: transport.client(),
    flowId: 'f1',
    onChanged: async () => {
      told.push('changed');
    }
  });
  await model.refresh();
  await settle(model);
  return { transport, model, told };
}

describe('SchedulesModel', () => {
  it("starts from the flow's own overlap policy, not a default", async () => {
    const { model } = await loaded('skip');
    expect(model.overlap).toEqual({ overlap: 'skip', maxConcurrent: null });
    expect(model.schedules).toEqual([]);
    expect(model.loading).toBe(false);
  });

  it('adds, pauses, resumes and deletes schedules, each a request of its own, reading the list again and telling the flow', async () => {
    const { transport, model, told } = await loaded();
    expect(await model.add({ kind: 'interval', every: 10 })).toBe(true);
    expect(model.schedules.map(s => [s.id, s.description, s.paused])).toEqual([
      ['s1', 'Every 10 seconds', false]
    ]);
    expect(await model.setPaused('s1', true)).toBe(true);
    expect(model.schedules[0]).toMatchObject({ paused: true, nextRuns: [] });
    expect(await model.setPaused('s1', false)).toBe(true);
    expect(model.schedules[0].nextRuns).toHaveLength(1);
    expect(await model.remove('s1')).toBe(true);
    expect(model.schedules).toEqual([]);
    expect(told).toEqual(['changed', 'changed', 'changed', 'changed']);
    expect(
      transport
        .requestsTo('cellflow/api/')
        .filter(r => r.method !== 'GET')
        .map(r => [r.method, r.path, r.body])
    ).toEqual([
      [
        'POST',
        'cellflow/api/flows/f1/schedules',
        '{"kind":"interval","every":10}'
      ],
      ['PATCH', 'cellflow/api/schedules/s1', '{"paused":true}'],
      ['PATCH', 'cellflow/api/schedules/s1', '{"paused":false}'],
      ['DELETE', 'cellflow/api/schedules/s1', null]
    ]);
  });

  it("shows the server's refusal, naming what it refused, and keeps the list as the server has it", async () => {
    const { model, told } = await loaded();
    await model.add({ kind: 'interval', every: 10 });
    expect(await model.add({ kind: 'interval', every: 0 })).toBe(false);
    expect(model.error).toBe('every must be at least 1 second');
    expect(model.schedules.map(s => s.id)).toEqual(['s1']);
    expect(model.busy).toBe(false);
    // Only the accepted change told the flow.
    expect(told).toEqual(['changed']);
    // The next action that goes through clears the message.
    expect(await model.remove('s1')).toBe(true);
    expect(model.error).toBeNull();
  });

  it('is busy while an action is under way', async () => {
    const { transport, model } = await loaded();
    transport.holding = true;
    const adding = model.add({ kind: 'interval', every: 5 });
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(model.busy).toBe(true);
    transport.release();
    // The reload after it is held too: let each answer go as it comes.
    for (let i = 0; i < 10 && model.busy; i++) {
      await new Promise(resolve => setTimeout(resolve, 0));
      transport.release();
    }
    expect(await adding).toBe(true);
    expect(model.busy).toBe(false);
  });

  it('sets the overlap policy, shown at once and then as the server has it; a refused one goes back', async () => {
    const { transport, model, told } = await loaded();
    expect(await model.setOverlap('parallel')).toBe(true);
    expect(model.overlap?.overlap).toBe('parallel');
    expect(
      transport.workspace('cf_main').flows.get('f1')!.overlap.overlap
    ).toBe('parallel');
    expect(await model.setOverlap('sometimes' as unknown as 'queue')).toBe(
      false
    );
    expect(model.overlap?.overlap).toBe('parallel');
    expect(model.error).toBe('overlap must be queue, skip or parallel');
    // A policy plans no runs: the flow's history is not read again for it.
    expect(told).toEqual([]);
  });
});

/**
 * The wire format without a kernel: signing, verification, frame layout, nbformat outputs.
 */
import { describe, expect, it } from 'vitest';
import {
  DELIMITER,
  Signer,
  deserialize,
  makeHeader,
  serialize
} from '../src/executor/wire.js';
import { iopubToOutput as toOutput } from '../../src/flow/kernel.js';

describe('Jupyter wire format', () => {
  const signer = new Signer('0123456789abcdef');

  it('round-trips a signed message with identities and buffers', () => {
    const header = makeHeader('execute_request', 'session-1');
    const frames = serialize(signer, header, { code: '1' }, { msg_id: 'p' });
    const topic = Buffer.from('kernel.x.status');
    const parsed = deserialize(signer, [topic, ...frames, Buffer.from([1, 2])]);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) {
      return;
    }
    expect(parsed.message.header).toEqual(header);
    expect(parsed.message.content).toEqual({ code: '1' });
    expect(parsed.message.parent_header).toEqual({ msg_id: 'p' });
    expect(parsed.message.identities).toEqual([topic]);
    expect(parsed.message.buffers).toEqual([Buffer.from([1, 2])]);
  });

  it('gives every message a new msg_id', () => {
    expect(makeHeader('a', 's').msg_id).not.toBe(makeHeader('a', 's').msg_id);
  });

  it('drops a message whose signature does not match', () => {
    const frames = serialize(signer, makeHeader('status', 's'), {
      execution_state: 'idle'
    });
    const tampered = [...frames];
    tampered[5] = Buffer.from(JSON.stringify({ execution_state: 'busy' }));
    expect(deserialize(signer, tampered)).toEqual({
      ok: false,
      reason: 'bad signature'
    });
    expect(deserialize(new Signer('other key'), frames)).toEqual({
      ok: false,
      reason: 'bad signature'
    });
  });

  it('refuses frames without the delimiter', () => {
    expect(deserialize(signer, [Buffer.from('x')])).toMatchObject({
      ok: false
    });
    expect(deserialize(signer, [DELIMITER, Buffer.from('sig')])).toMatchObject({
      ok: false
    });
  });

  it('maps iopub messages to nbformat outputs', () => {
    expect(toOutput('stream', { name: 'stdout', text: 'a' })).toEqual({
      output_type: 'stream',
      name: 'stdout',
      text: 'a'
    });
    expect(
      toOutput('display_data', {
        data: { 'text/plain': 'x' },
        metadata: {},
        transient: { display_id: 'd' }
      })
    ).toEqual({
      output_type: 'display_data',
      data: { 'text/plain': 'x' },
      metadata: {},
      // For the run loop's OutputArea, which tracks the id and stores the output without it.
      transient: { display_id: 'd' }
    });
    expect(
      toOutput('display_data', { data: {}, metadata: {}, transient: {} })
    ).toEqual({ output_type: 'display_data', data: {}, metadata: {} });
    expect(toOutput('clear_output', { wait: true })).toEqual({
      output_type: 'clear_output',
      wait: true
    });
    expect(toOutput('status', { execution_state: 'idle' })).toBeNull();
    expect(toOutput('execute_input', { code: '1' })).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';

import { iopubToOutput, type IopubOutput } from '../kernel.js';
import { OutputArea } from '../output-area.js';

const iopub = (type: string, content: Record<string, unknown>): IopubOutput =>
  iopubToOutput(type, content)!;
const stream = (text: string) => iopub('stream', { name: 'stdout', text });
const display = (text: string, id?: string) =>
  iopub('display_data', {
    data: { 'text/plain': text },
    metadata: {},
    transient: id ? { display_id: id } : {}
  });
const update = (text: string, id: string) =>
  iopub('update_display_data', {
    data: { 'text/plain': text },
    metadata: {},
    transient: { display_id: id }
  });
const plain = (text: string) => ({
  output_type: 'display_data',
  data: { 'text/plain': text },
  metadata: {}
});

describe('OutputArea (nbclient rules)', () => {
  it('clear_output(wait=True) clears just before the next output: a counting loop leaves its last line', () => {
    const list = new OutputArea<string>().list('cell');
    for (let i = 0; i < 10; i++) {
      list.apply(iopub('clear_output', { wait: true }));
      list.apply(stream(`${i}\n`));
    }
    expect(list.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: '9\n' }
    ]);
    // A pending clear with nothing after it clears nothing.
    list.apply(iopub('clear_output', { wait: true }));
    expect(list.outputs).toHaveLength(1);
    // Without wait, at once.
    expect(list.apply(iopub('clear_output', {}))).toEqual([
      { kind: 'clear', place: 'cell' }
    ]);
    expect(list.outputs).toEqual([]);
  });

  it('update_display_data updates every output of its display id, in any cell, and is not stored', () => {
    const area = new OutputArea<string>();
    const one = area.list('one');
    const two = area.list('two');
    one.apply(stream('x\n'));
    one.apply(display('a', 'h'));
    one.apply(display('other', 'k'));
    two.apply(display('a again', 'h'));
    const changes = two.apply(update('b', 'h'));
    expect(changes).toEqual([
      { kind: 'update', place: 'one', index: 1, output: plain('b') },
      { kind: 'update', place: 'two', index: 0, output: plain('b') }
    ]);
    expect(one.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'x\n' },
      plain('b'),
      plain('other')
    ]);
    expect(two.outputs).toEqual([plain('b')]);
    // No transient is kept; an update of an unknown id changes nothing.
    expect(two.apply(update('z', 'nobody'))).toEqual([]);
    expect(JSON.stringify([one.outputs, two.outputs])).not.toContain(
      'transient'
    );
  });

  it('a display with a known id updates the earlier ones and is kept too; a cleared cell no longer shows it', () => {
    const area = new OutputArea<string>();
    const one = area.list('one');
    const two = area.list('two');
    one.apply(display('a', 'h'));
    two.apply(display('b', 'h'));
    expect(one.outputs).toEqual([plain('b')]);
    expect(two.outputs).toEqual([plain('b')]);
    one.apply(iopub('clear_output', { wait: false }));
    two.apply(update('c', 'h'));
    expect(one.outputs).toEqual([]);
    expect(two.outputs).toEqual([plain('c')]);
    // A plain display (no id) is never updated.
    one.apply(display('plain'));
    two.apply(update('d', 'h'));
    expect(one.outputs).toEqual([plain('plain')]);
  });
});

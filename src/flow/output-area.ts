/**
 * From the kernel's iopub outputs (iopubToOutput) to a cell's nbformat outputs, as nbclient (and so
 * papermill) builds them: `clear_output` empties the cell's outputs (with `wait`, just before its next
 * output arrives), `update_display_data` is not an output but replaces data and metadata of every
 * earlier output showing the same `transient.display_id`, in any cell of the run, and a display_data or
 * execute_result with a display_id is kept, updates the earlier ones, and is tracked. No `transient`
 * reaches a stored output: what comes out is valid nbformat. Pure; the run loop has one OutputArea per
 * run, so the server's stored outputs, its executed notebook and the lab's Run here all agree.
 */
import type { IopubOutput, KernelOutput } from './kernel.js';

/** What an output list did with one iopub output, for the run loop to report. */
export type OutputChange<P> =
  /** The list's outputs were all removed. */
  | { kind: 'clear'; place: P }
  /** `output` was added at the end of the list. */
  | { kind: 'append'; place: P; output: KernelOutput }
  /** The output at `index` of the list of `place` (this list or an earlier one) is now `output`. */
  | { kind: 'update'; place: P; index: number; output: KernelOutput };

/** The outputs of one run: every cell's list, and the display ids shown in them. */
export class OutputArea<P> {
  /** display_id → the lists showing it and at which indices (nbclient's _display_id_map). */
  private readonly displays = new Map<string, Map<OutputList<P>, number[]>>();

  /** A list for one execution of a cell: outputs go into `outputs`, which it changes in place. */
  list(place: P, outputs: KernelOutput[] = []): OutputList<P> {
    return new OutputList(this, place, outputs);
  }

  /** @internal */
  track(displayId: string, list: OutputList<P>, index: number): void {
    let lists = this.displays.get(displayId);
    if (!lists) {
      lists = new Map();
      this.displays.set(displayId, lists);
    }
    lists.set(list, [...(lists.get(list) ?? []), index]);
  }

  /** @internal The list was cleared: none of its former outputs shows a display any more. */
  forget(list: OutputList<P>): void {
    for (const lists of this.displays.values()) {
      lists.delete(list);
    }
  }

  /** @internal Every output showing `displayId` takes the new data and metadata. */
  update(
    displayId: string,
    data: unknown,
    metadata: unknown
  ): OutputChange<P>[] {
    const changes: OutputChange<P>[] = [];
    for (const [list, indices] of this.displays.get(displayId) ?? []) {
      for (const index of indices) {
        const output = list.replace(index, data, metadata);
        if (output) {
          changes.push({ kind: 'update', place: list.place, index, output });
        }
      }
    }
    return changes;
  }
}

export class OutputList<P> {
  private clearBeforeNextOutput = false;

  constructor(
    private readonly area: OutputArea<P>,
    readonly place: P,
    readonly outputs: KernelOutput[]
  ) {}

  /** Applies one output of iopubToOutput; returns what changed, in order. */
  apply(message: IopubOutput): OutputChange<P>[] {
    if (message.output_type === 'clear_output') {
      if (message.wait) {
        this.clearBeforeNextOutput = true;
        return [];
      }
      return this.clear();
    }
    const displayId = displayIdOf(message);
    const changes: OutputChange<P>[] =
      displayId !== null && message.output_type !== 'stream'
        ? this.area.update(
            displayId,
            message.data,
            (message as { metadata?: unknown }).metadata ?? {}
          )
        : [];
    if (message.output_type === 'update_display_data') {
      return changes; // not an output of its own
    }
    if (this.clearBeforeNextOutput) {
      this.clearBeforeNextOutput = false;
      changes.push(...this.clear());
    }
    const output = nbformatOutput(message);
    if (displayId !== null) {
      this.area.track(displayId, this, this.outputs.length);
    }
    this.outputs.push(output);
    changes.push({ kind: 'append', place: this.place, output });
    return changes;
  }

  /** @internal */
  replace(
    index: number,
    data: unknown,
    metadata: unknown
  ): KernelOutput | null {
    const current = this.outputs[index];
    if (!current) {
      return null;
    }
    const output: KernelOutput = { ...current, data, metadata };
    this.outputs[index] = output;
    return output;
  }

  private clear(): OutputChange<P>[] {
    this.outputs.length = 0;
    this.area.forget(this);
    return [{ kind: 'clear', place: this.place }];
  }
}

function displayIdOf(message: IopubOutput): string | null {
  const transient = (message as { transient?: unknown }).transient;
  if (typeof transient !== 'object' || transient === null) {
    return null;
  }
  const id = (transient as { display_id?: unknown }).display_id;
  return typeof id === 'string' && id !== '' ? id : null;
}

/** The output as nbformat keeps it: `transient` is for the live frontend only. */
function nbformatOutput(message: KernelOutput): KernelOutput {
  if (!('transient' in message)) {
    return message;
  }
  const { transient: _transient, ...output } = message;
  return output as KernelOutput;
}

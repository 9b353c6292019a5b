/**
 * Task caching (`%%task NAME --cache-for 1h [--cache-key EXPR]`): the cache key, the kernel-side
 * snapshot and restore of the variables a task set, and the small store interface the run loop is
 * given. Kept out of runner.ts, which only asks `begin` before a task and `finish` after it.
 *
 * Decisions:
 * - The key is SHA-256 over the flow's name, the task's name and code, its setup cells' code, the
 *   parameters cell's code and the run's parameter values, the upstream tasks' keys (so a change
 *   upstream invalidates everything below it), and the `--cache-key` expression with the repr of its
 *   value, evaluated in the kernel right before the task (after its setup cells).
 * - Setup cells run on a hit too (they are the task's imports and connections, and the key expression
 *   may need them); only the task's own cell is skipped.
 * - The variables a task set are the names (not starting with `_`) that are new or bound to another
 *   object after the attempt than before it. Modules are restored by import; every other value is
 *   serialised with cloudpickle when the kernel has it, else pickle. A value that cannot be serialised
 *   (a generator, a lock) makes the task uncacheable for this run, and the note names it.
 * - Everything crosses into the kernel as base64 JSON data handed to fixed code (never code built
 *   from values), and comes back as a display_data of TASK_CACHE_MIMETYPE that is kept out of the
 *   task's outputs.
 * - A failed lookup, key expression or restore never fails the task: it runs as if uncached, and the
 *   note says why.
 */
import { base64Encode, canonicalJson, sha256Hex, utf8Encode } from './hash.js';
import type { FlowKernel, IopubOutput, KernelOutput } from './kernel.js';
import type { FlowSpec, TaskSpec } from './spec.js';

/** The mimetype of the kernel's answers to the cache's own code. */
export const TASK_CACHE_MIMETYPE = 'application/vnd.cellflow.task-cache+json';

/** Largest cached entry (serialised variables + outputs) by default: 16 MB. */
export const DEFAULT_MAX_ENTRY_BYTES = 16 * 1024 * 1024;

/** The variables a task set, as the kernel serialised them. */
export interface CachedVariables {
  serializer: 'cloudpickle' | 'pickle';
  /** Name → base64 of the pickled value. */
  values: Record<string, string>;
  /** Name → module name, restored by import. */
  modules: Record<string, string>;
}

export interface TaskCacheEntry {
  key: string;
  taskName: string;
  /** The run whose attempt produced it. */
  runId: string;
  createdAt: number;
  expiresAt: number;
  variables: CachedVariables;
  /** The cached attempt's outputs, shown again on a hit. */
  outputs: KernelOutput[];
}

/** Where entries live; the server's is its store, scoped to the run's workspace. */
export interface TaskCacheStore {
  /** The entry under `key` unless it expired by `now` (ms since epoch). */
  get(key: string, now: number): Promise<TaskCacheEntry | null>;
  put(entry: TaskCacheEntry): Promise<void>;
}

/** RunOptions.cache: without it, cached tasks simply run. */
export interface RunCacheOptions {
  store: TaskCacheStore;
  /** The run being executed, named by the entries it stores. */
  runId: string;
  /** Skip lookups (every cached task runs) but still store fresh results. */
  refresh?: boolean;
  /** Largest entry kept; a larger one is not stored and the note says so. */
  maxEntryBytes?: number;
}

/** What `begin` found for a task. */
export type CacheBegin =
  | { kind: 'off' }
  /** Restored in the kernel: the task is not executed. */
  | { kind: 'hit'; key: string; entry: TaskCacheEntry; reason: string }
  /** Run the task; `finish` snapshots and stores it when it completes (unless `note` says why not). */
  | { kind: 'miss'; key: string; note?: string; storable: boolean };

/** "Cached (from run 1a2b3c4d)": what a chip shows for a hit. */
export function cachedReason(runId: string): string {
  return `Cached (from run ${runId.slice(0, 8)})`;
}

/** The inputs of a task's key; pure, so the key is computed the same everywhere. */
export interface TaskKeyInput {
  flow: string;
  task: Pick<TaskSpec, 'name' | 'code' | 'setup' | 'cells' | 'cacheKey'>;
  parametersCode: string | null;
  parameters: Record<string, unknown>;
  /** Upstream task name → its key. */
  upstream: Record<string, string>;
  /** repr() of the `--cache-key` expression's value in the kernel, when the task has one. */
  keyValue: string | null;
}

export function taskCacheKey(input: TaskKeyInput): string {
  return sha256Hex(
    canonicalJson({
      v: 1,
      flow: input.flow,
      task: input.task.name,
      code: (input.task.cells ?? [input.task]).map(c => c.code),
      setup: input.task.setup.map(c => c.code),
      parametersCode: input.parametersCode,
      parameters: input.parameters,
      upstream: input.upstream,
      cacheKey: input.task.cacheKey ?? null,
      keyValue: input.keyValue
    })
  );
}

// Kernel-side code. Each is fixed text defining a function that is called with base64 JSON data and
// deleted again; helpers start with `_cf_` so they are never taken for the task's variables.

const RECORD_NAMES = `
def _cf_cache_record():
    g = globals()
    g['_cf_cache_before'] = {k: v for k, v in g.items() if not k.startswith('_')}
_cf_cache_record()
del _cf_cache_record
`;

const FORGET_NAMES = `globals().pop('_cf_cache_before', None)`;

const SNAPSHOT = `
def _cf_cache_snapshot(arg):
    import base64, json, pickle, types
    from IPython.display import publish_display_data
    limit = json.loads(base64.b64decode(arg).decode('utf-8'))['limit']
    try:
        import cloudpickle as ser
        serializer = 'cloudpickle'
    except ImportError:
        ser = pickle
        serializer = 'pickle'
    g = globals()
    before = g.pop('_cf_cache_before', {})
    answer = {'serializer': serializer, 'values': {}, 'modules': {}}
    total = 0
    for name, value in list(g.items()):
        if name.startswith('_') or (name in before and before[name] is value):
            continue
        if isinstance(value, types.ModuleType):
            answer['modules'][name] = value.__name__
            continue
        if serializer == 'pickle' and getattr(value, '__module__', None) == '__main__' and isinstance(value, (type, types.FunctionType)):
            answer['unserialisable'] = {'name': name, 'error': 'defined in the notebook: pickle stores it by reference (install cloudpickle in the kernel to cache it)'}
            break
        try:
            data = base64.b64encode(ser.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode('ascii')
        except Exception as error:
            answer['unserialisable'] = {'name': name, 'error': f'{type(error).__name__}: {error}'}
            break
        total += len(data)
        if total > limit:
            answer['tooLarge'] = {'name': name, 'bytes': total}
            break
        answer['values'][name] = data
    publish_display_data({${JSON.stringify(TASK_CACHE_MIMETYPE)}: answer})
_cf_cache_snapshot(%ARG%)
del _cf_cache_snapshot
`;

const RESTORE = `
def _cf_cache_restore(arg):
    import base64, importlib, json, pickle
    variables = json.loads(base64.b64decode(arg).decode('utf-8'))
    if variables['serializer'] == 'cloudpickle':
        import cloudpickle
    restored = {}
    for name, module in variables['modules'].items():
        restored[name] = importlib.import_module(module)
    for name, data in variables['values'].items():
        restored[name] = pickle.loads(base64.b64decode(data))
    globals().update(restored)
_cf_cache_restore(%ARG%)
del _cf_cache_restore
`;

const KEY_VALUE = `
def _cf_cache_key_value(arg):
    import base64, json
    from IPython.display import publish_display_data
    expression = json.loads(base64.b64decode(arg).decode('utf-8'))['expression']
    value = eval(expression, globals())
    publish_display_data({${JSON.stringify(TASK_CACHE_MIMETYPE)}: {'repr': repr(value)}})
_cf_cache_key_value(%ARG%)
del _cf_cache_key_value
`;

/** Fixed code called with `data` as a base64 JSON string literal (base64 has no quote or backslash). */
function withData(template: string, data: unknown): string {
  const arg = base64Encode(utf8Encode(JSON.stringify(data)));
  return template.replace('%ARG%', `'${arg}'`);
}

interface KernelAnswer {
  ok: boolean;
  /** "NameError: name 'x' is not defined" when the code raised. */
  error?: string;
  data?: Record<string, unknown>;
}

/**
 * Runs cache plumbing in the kernel: no history, no execution count, nothing in the task's outputs.
 * A kernel death or other rejection becomes an error answer; the task's own execute then meets it.
 */
async function ask(kernel: FlowKernel, code: string): Promise<KernelAnswer> {
  let data: Record<string, unknown> | undefined;
  const onOutput = (output: IopubOutput) => {
    if (output.output_type === 'display_data') {
      const bundle = output.data as Record<string, unknown> | undefined;
      const answer = bundle?.[TASK_CACHE_MIMETYPE];
      if (typeof answer === 'object' && answer !== null) {
        data = answer as Record<string, unknown>;
      }
    }
  };
  try {
    const result = await kernel.execute(code, {
      storeHistory: false,
      onOutput
    });
    if (result.status !== 'ok') {
      return {
        ok: false,
        error: result.ename
          ? `${result.ename}: ${result.evalue ?? ''}`.trim()
          : `the request was ${result.status}`
      };
    }
    return { ok: true, data };
  } catch (error) {
    return {
      ok: false,
      error: error instanceof Error ? error.message : String(error)
    };
  }
}

/** One run's cache: keys of its tasks, lookups before cached tasks, snapshots after them. */
export class TaskCacheSession {
  private readonly keys = new Map<string, string>();
  private readonly keyValues = new Map<string, string | null>();
  private readonly parameters: Record<string, unknown>;

  constructor(
    private readonly spec: FlowSpec,
    private readonly kernel: FlowKernel,
    private readonly options: RunCacheOptions,
    parameters: Record<string, unknown>,
    private readonly now: () => number = Date.now
  ) {
    const values: Record<string, unknown> = {};
    for (const p of spec.parameters) {
      values[p.name] = p.default;
    }
    this.parameters = { ...values, ...parameters };
  }

  /** The key of a task; upstream keys are computed on the way (with their key values, once known). */
  keyOf(task: TaskSpec): string {
    const known = this.keys.get(task.name);
    if (known !== undefined) {
      return known;
    }
    const upstream: Record<string, string> = {};
    for (const name of task.upstream) {
      const up = this.spec.tasks.find(t => t.name === name);
      if (up) {
        upstream[name] = this.keyOf(up);
      }
    }
    const key = taskCacheKey({
      flow: this.spec.name,
      task,
      parametersCode: this.spec.parametersCell?.code ?? null,
      parameters: this.parameters,
      upstream,
      keyValue: this.keyValues.get(task.name) ?? null
    });
    this.keys.set(task.name, key);
    return key;
  }

  /**
   * Before a task's first attempt, after its setup cells. For a cached task: the key (with its
   * expression's value), then a lookup; a hit is restored in the kernel before this resolves.
   */
  async begin(task: TaskSpec): Promise<CacheBegin> {
    if (!task.cacheFor) {
      return { kind: 'off' };
    }
    const notes: string[] = [];
    if (task.cacheKey) {
      const answer = await ask(
        this.kernel,
        withData(KEY_VALUE, { expression: task.cacheKey })
      );
      if (!answer.ok || typeof answer.data?.repr !== 'string') {
        // The key is unknown: this run neither uses nor stores the cache for the task.
        this.keyOf(task);
        return {
          kind: 'miss',
          key: this.keys.get(task.name)!,
          storable: false,
          note: `Not cached: --cache-key ${task.cacheKey} raised ${answer.error ?? 'no value'}`
        };
      }
      this.keyValues.set(task.name, answer.data.repr);
    }
    const key = this.keyOf(task);
    if (!this.options.refresh) {
      let entry: TaskCacheEntry | null = null;
      try {
        entry = await this.options.store.get(key, this.now());
      } catch (error) {
        notes.push(`the cache could not be read (${message(error)})`);
      }
      if (entry) {
        const restored = await ask(
          this.kernel,
          withData(RESTORE, entry.variables)
        );
        if (restored.ok) {
          return { kind: 'hit', key, entry, reason: cachedReason(entry.runId) };
        }
        notes.push(
          `the cached result of run ${entry.runId.slice(0, 8)} could not be restored (${restored.error})`
        );
      }
    }
    const recorded = await ask(this.kernel, RECORD_NAMES);
    if (!recorded.ok) {
      return {
        kind: 'miss',
        key,
        storable: false,
        note: `Not cached: ${recorded.error}`
      };
    }
    return {
      kind: 'miss',
      key,
      storable: true,
      ...(notes.length ? { note: `Ran again: ${notes.join('; ')}` } : {})
    };
  }

  /**
   * After the task of a miss completed: snapshots the variables it set and stores the entry.
   * Resolves with the note for the task (why it was not cached), if any.
   */
  async finish(
    task: TaskSpec,
    begun: CacheBegin,
    outputs: KernelOutput[]
  ): Promise<string | undefined> {
    if (begun.kind !== 'miss') {
      return undefined;
    }
    if (!begun.storable) {
      await ask(this.kernel, FORGET_NAMES);
      return begun.note;
    }
    const limit = this.options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
    const answer = await ask(this.kernel, withData(SNAPSHOT, { limit }));
    if (!answer.ok || !answer.data) {
      await ask(this.kernel, FORGET_NAMES);
      return `Not cached: the variables could not be read (${answer.error ?? 'no answer'})`;
    }
    const data = answer.data;
    const unserialisable = data.unserialisable as
      { name: string; error: string } | undefined;
    if (unserialisable) {
      return `Not cached: variable '${unserialisable.name}' cannot be serialised (${unserialisable.error})`;
    }
    const tooLarge = data.tooLarge as { name: string } | undefined;
    const variables: CachedVariables = {
      serializer: data.serializer === 'cloudpickle' ? 'cloudpickle' : 'pickle',
      values: (data.values ?? {}) as Record<string, string>,
      modules: (data.modules ?? {}) as Record<string, string>
    };
    const size =
      JSON.stringify(variables).length + JSON.stringify(outputs).length;
    if (tooLarge || size > limit) {
      return `Not cached: its variables${tooLarge ? ` (up to '${tooLarge.name}')` : ''} and outputs are larger than ${Math.round(limit / 1024)} KB`;
    }
    const createdAt = this.now();
    try {
      await this.options.store.put({
        key: begun.key,
        taskName: task.name,
        runId: this.options.runId,
        createdAt,
        expiresAt: createdAt + task.cacheFor! * 1000,
        variables,
        outputs
      });
    } catch (error) {
      return `Not cached: the cache could not be written (${message(error)})`;
    }
    return begun.note;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

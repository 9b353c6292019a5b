/**
 * Questions about a flow's task graph that the panel asks while editing it; pure, so they are tested
 * without a DOM.
 */
export interface ITaskEdges {
  name: string;
  upstream: string[];
}

/**
 * The tasks that run after `task`, directly or through others: making `task` run after any of them
 * would close a cycle.
 */
export function downstreamOf(tasks: ITaskEdges[], task: string): Set<string> {
  const below = new Map<string, string[]>();
  for (const t of tasks) {
    for (const up of t.upstream) {
      below.set(up, [...(below.get(up) ?? []), t.name]);
    }
  }
  const found = new Set<string>();
  const queue = [...(below.get(task) ?? [])];
  while (queue.length) {
    const next = queue.shift()!;
    if (next !== task && !found.has(next)) {
      found.add(next);
      queue.push(...(below.get(next) ?? []));
    }
  }
  return found;
}

/** The tasks `task` may be made to run after: every other task but its downstream ones. */
export function possibleUpstream<T extends ITaskEdges>(
  tasks: T[],
  task: string
): T[] {
  const downstream = downstreamOf(tasks, task);
  return tasks.filter(t => t.name !== task && !downstream.has(t.name));
}

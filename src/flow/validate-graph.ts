/**
 * The task graph: a run order where every task comes after its upstream tasks, and the cycles that
 * make such an order impossible.
 */

export interface GraphNode {
  name: string;
  /** Names of the tasks this one runs after; all must be nodes of the graph. */
  upstream: string[];
}

export interface GraphOrder {
  /** Indexes into the input, in run order; tasks caught in or behind a cycle are left out. */
  order: number[];
  /** Each cycle once, as names from its earliest task back to it: ["a", "b", "a"]. */
  cycles: string[][];
}

/**
 * Kahn's algorithm, always taking the ready task that comes first in the input (notebook order), so
 * the order is stable: a notebook whose tasks are already in order keeps that order.
 */
export function orderTasks(nodes: GraphNode[]): GraphOrder {
  const index = new Map(nodes.map((node, i) => [node.name, i]));
  const downstream: number[][] = nodes.map(() => []);
  const waiting = nodes.map(() => 0);
  nodes.forEach((node, i) => {
    for (const up of new Set(node.upstream)) {
      const j = index.get(up);
      if (j !== undefined) {
        downstream[j].push(i);
        waiting[i]++;
      }
    }
  });
  const ready: number[] = [];
  waiting.forEach((count, i) => count === 0 && ready.push(i));
  const order: number[] = [];
  while (ready.length > 0) {
    // The ready list is small; a sorted insert keeps "notebook order among ready tasks" simple.
    ready.sort((a, b) => a - b);
    const next = ready.shift()!;
    order.push(next);
    for (const d of downstream[next]) {
      if (--waiting[d] === 0) {
        ready.push(d);
      }
    }
  }
  const left = new Set(nodes.map((_, i) => i).filter(i => waiting[i] > 0));
  return { order, cycles: findCycles(nodes, downstream, left) };
}

/** One cycle per strongly connected component of the unordered tasks (Tarjan), in notebook order. */
function findCycles(
  nodes: GraphNode[],
  downstream: number[][],
  left: Set<number>
): string[][] {
  const components: number[][] = [];
  const low = new Map<number, number>();
  const seen = new Map<number, number>();
  const stack: number[] = [];
  const onStack = new Set<number>();
  let counter = 0;

  const visit = (v: number) => {
    seen.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of downstream[v]) {
      if (!left.has(w)) {
        continue;
      }
      if (!seen.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, seen.get(w)!));
      }
    }
    if (low.get(v) === seen.get(v)) {
      const component: number[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component);
    }
  };
  for (const v of [...left].sort((a, b) => a - b)) {
    if (!seen.has(v)) {
      visit(v);
    }
  }

  const cycles: string[][] = [];
  for (const component of components) {
    const members = new Set(component);
    const start = Math.min(...component);
    const selfLoop = downstream[start].includes(start);
    if (component.length === 1 && !selfLoop) {
      // Behind a cycle, not in one: it is reported through that cycle.
      continue;
    }
    cycles.push(
      shortestCycle(start, downstream, members).map(i => nodes[i].name)
    );
  }
  return cycles.sort(
    (a, b) =>
      nodes.findIndex(n => n.name === a[0]) -
      nodes.findIndex(n => n.name === b[0])
  );
}

/** Breadth-first from `start` back to itself inside one component: the shortest cycle through it. */
function shortestCycle(
  start: number,
  downstream: number[][],
  members: Set<number>
): number[] {
  const parent = new Map<number, number>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...downstream[v]].sort((a, b) => a - b)) {
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = parent.get(u)!) {
          path.push(u);
        }
        return [start, ...path.slice(1).reverse(), start];
      }
      if (members.has(w) && !parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

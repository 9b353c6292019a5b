/**
 * A small layered layout of a flow's task graph for the side panel: each task sits one layer below its
 * deepest upstream task, tasks of a layer side by side in run order. Enough for the flows notebooks make
 * (tens of tasks); pure, so it is tested without a DOM.
 */
export interface IDagInput {
  name: string;
  upstream: string[];
}

export interface IDagNode {
  name: string;
  layer: number;
  /** Position within its layer, 0-based, and how many share the layer. */
  index: number;
  layerSize: number;
}

export interface IDagEdge {
  from: string;
  to: string;
}

export interface IDagLayout {
  nodes: IDagNode[];
  edges: IDagEdge[];
  layers: number;
  /** The widest layer's size. */
  width: number;
}

/** Lays out tasks given in a valid run order (upstream tasks first), as the compiler returns them. */
export function layoutDag(tasks: IDagInput[]): IDagLayout {
  const layerOf = new Map<string, number>();
  for (const task of tasks) {
    const depth =
      Math.max(-1, ...task.upstream.map(u => layerOf.get(u) ?? -1)) + 1;
    layerOf.set(task.name, depth);
  }
  const layers: string[][] = [];
  for (const task of tasks) {
    const layer = layerOf.get(task.name)!;
    (layers[layer] ??= []).push(task.name);
  }
  const nodes: IDagNode[] = [];
  layers.forEach((names, layer) =>
    names.forEach((name, index) =>
      nodes.push({ name, layer, index, layerSize: names.length })
    )
  );
  const known = new Set(tasks.map(t => t.name));
  const edges = tasks.flatMap(t =>
    t.upstream.filter(u => known.has(u)).map(u => ({ from: u, to: t.name }))
  );
  return {
    nodes,
    edges,
    layers: layers.length,
    width: Math.max(0, ...layers.map(l => l.length))
  };
}

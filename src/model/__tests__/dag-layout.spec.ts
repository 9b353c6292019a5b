import { describe, expect, it } from 'vitest';

import { layoutDag } from '../dag-layout.js';

describe('layoutDag', () => {
  it('puts a chain one task per layer', () => {
    const layout = layoutDag([
      { name: 'extract', upstream: [] },
      { name: 'transform', upstream: ['extract'] },
      { name: 'load', upstream: ['transform'] }
    ]);
    expect(layout.nodes.map(n => [n.name, n.layer, n.index])).toEqual([
      ['extract', 0, 0],
      ['transform', 1, 0],
      ['load', 2, 0]
    ]);
    expect(layout.edges).toEqual([
      { from: 'extract', to: 'transform' },
      { from: 'transform', to: 'load' }
    ]);
    expect([layout.layers, layout.width]).toEqual([3, 1]);
  });

  it('places a task below its deepest upstream, and siblings side by side', () => {
    const layout = layoutDag([
      { name: 'a', upstream: [] },
      { name: 'b', upstream: ['a'] },
      { name: 'c', upstream: ['a'] },
      { name: 'd', upstream: ['a', 'c'] },
      { name: 'e', upstream: [] }
    ]);
    const at = Object.fromEntries(
      layout.nodes.map(n => [n.name, [n.layer, n.index, n.layerSize]])
    );
    expect(at).toEqual({
      a: [0, 0, 2],
      e: [0, 1, 2],
      b: [1, 0, 2],
      c: [1, 1, 2],
      d: [2, 0, 1]
    });
    expect(layout.width).toBe(2);
    expect(layout.edges).toHaveLength(4);
  });

  it('lays out nothing for no tasks', () => {
    expect(layoutDag([])).toEqual({
      nodes: [],
      edges: [],
      layers: 0,
      width: 0
    });
  });
});

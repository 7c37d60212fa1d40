/**
 * Positions for a {@link StateGraph}, by dagre's layered layout (top to bottom): node boxes, edge
 * polylines with their label positions, cluster boxes around Map iterators and Parallel branches.
 */
import { Graph, layout } from '@dagrejs/dagre';
import type { EdgeKind, GraphNode, StateGraph } from './asl';

export interface PlacedNode extends GraphNode {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface PlacedEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
  readonly label?: string;
  readonly points: readonly { x: number; y: number }[];
  readonly labelAt?: { x: number; y: number };
}

export interface PlacedCluster {
  readonly id: string;
  readonly label: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface GraphLayout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly PlacedEdge[];
  readonly clusters: readonly PlacedCluster[];
}

/** Width of a label in px at the graph's 12 px font (no DOM to measure in; generous per character). */
const textWidth = (s: string, px = 7) => s.length * px;

export function layoutGraph(graph: StateGraph): GraphLayout {
  const g = new Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 38, edgesep: 14, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const c of graph.clusters) g.setNode(c.id, { label: c.label, clusterLabelPos: 'top', paddingTop: 18 });
  for (const c of graph.clusters) if (c.parent) g.setParent(c.id, c.parent);
  for (const n of graph.nodes) {
    const small = n.kind !== 'state';
    const width = small ? 64 : Math.max(120, textWidth(n.label) + 28, textWidth(n.type, 6.2) + 28);
    g.setNode(n.id, { width, height: small ? 30 : 46 });
    if (n.parent) g.setParent(n.id, n.parent);
  }
  graph.edges.forEach((e, i) => {
    g.setEdge(
      e.from,
      e.to,
      { label: e.label ?? '', width: e.label ? textWidth(e.label, 6) : 0, height: e.label ? 14 : 0, labelpos: 'c', minlen: 1 },
      `e${i}`,
    );
  });
  layout(g);

  const nodes = graph.nodes.map((n) => {
    const p = g.node(n.id) as { x: number; y: number; width: number; height: number };
    return { ...n, x: p.x, y: p.y, width: p.width, height: p.height };
  });
  const edges = graph.edges.map((e, i) => {
    const p = g.edge({ v: e.from, w: e.to, name: `e${i}` }) as { points?: { x: number; y: number }[]; x?: number; y?: number };
    return {
      from: e.from,
      to: e.to,
      kind: e.kind,
      ...(e.label ? { label: e.label } : {}),
      points: p.points ?? [],
      ...(e.label && p.x !== undefined && p.y !== undefined ? { labelAt: { x: p.x, y: p.y } } : {}),
    };
  });
  const clusters = graph.clusters.map((c) => {
    const p = g.node(c.id) as { x: number; y: number; width: number; height: number };
    return { id: c.id, label: c.label, x: p.x, y: p.y, width: p.width, height: p.height };
  });
  const size = g.graph() as { width?: number; height?: number };
  return { width: Math.ceil(size.width ?? 0), height: Math.ceil(size.height ?? 0), nodes, edges, clusters };
}

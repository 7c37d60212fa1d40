/**
 * A state machine drawn as SVG from its laid-out graph. Each state is a focusable button-like
 * group (Tab to reach, Enter or Space to select); with `runs` it is coloured by what happened in an
 * execution and shows its time.
 */
import { useMemo } from 'preact/hooks';
import { formatDuration } from '../ui/format';
import type { StateGraph } from './asl';
import { layoutGraph, type PlacedNode } from './layout';
import type { StateRun } from './status';

export interface StateGraphViewProps {
  readonly graph: StateGraph;
  readonly title: string;
  /** What happened to each state in an execution; absent draws the definition alone. */
  readonly runs?: ReadonlyMap<string, StateRun>;
  readonly selected?: string;
  readonly onSelect?: (state: string) => void;
}

const path = (points: readonly { x: number; y: number }[]) =>
  points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');

export function StateGraphView({ graph, title, runs, selected, onSelect }: StateGraphViewProps) {
  const placed = useMemo(() => layoutGraph(graph), [graph]);
  const statusOf = (n: PlacedNode) =>
    n.kind !== 'state' || !runs
      ? undefined
      : (runs.get(n.id)?.status ?? (n.childOf ? runs.get(n.childOf)?.status : undefined) ?? 'NOT_RUN');
  return (
    <div class="graph-wrap graph">
      <svg
        width={placed.width}
        height={placed.height}
        viewBox={`0 0 ${placed.width} ${placed.height}`}
        // Shrinks to the column's width, never grows past its natural size, and on a narrow window
        // stops shrinking at 3/4 (11 px text stays readable): the frame scrolls instead.
        style={{ maxWidth: '100%', minWidth: `${Math.round(placed.width * 0.75)}px`, height: 'auto' }}
        role="group"
        aria-label={title}
        data-testid="state-graph"
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#6e7781" />
          </marker>
        </defs>
        {placed.clusters.map((c) => (
          <g key={c.id} class="cluster" aria-hidden="true">
            <rect x={c.x - c.width / 2} y={c.y - c.height / 2} width={c.width} height={c.height} rx={8} />
            <text x={c.x - c.width / 2 + 8} y={c.y - c.height / 2 + 13}>{c.label}</text>
          </g>
        ))}
        {placed.edges.map((e, i) => (
          <g key={i} class={`edge ${e.kind}`} aria-hidden="true">
            <path d={path(e.points)} marker-end="url(#arrow)" />
            {e.label && e.labelAt ? (
              <text x={e.labelAt.x} y={e.labelAt.y + 4} text-anchor="middle">{e.label}</text>
            ) : null}
          </g>
        ))}
        {placed.nodes.map((n) => {
          const status = statusOf(n);
          const run = runs?.get(n.id);
          const sub = n.kind !== 'state' ? '' : run ? `${n.type} · ${formatDuration(run.seconds * 1000)}${run.runs > 1 ? ` · ×${run.runs}` : ''}` : n.type;
          // The accessible name starts with the visible text, word for word (WCAG 2.5.3).
          const label = n.kind === 'state' ? `${n.label} ${sub}${status ? `, ${status.replace(/_/g, ' ').toLowerCase()}` : ''}` : n.label;
          const select = () => n.kind === 'state' && onSelect?.(n.id);
          return (
            <g
              key={n.id}
              class={`node ${n.kind === 'state' ? '' : 'terminal'} ${status ? `s-${status}` : ''} ${selected === n.id ? 'selected' : ''}`}
              data-state={n.kind === 'state' ? n.id : undefined}
              data-status={status}
              transform={`translate(${n.x - n.width / 2},${n.y - n.height / 2})`}
              {...(n.kind === 'state'
                ? {
                    role: 'button',
                    // SVG attributes are case-sensitive: `tabindex`, not the HTML property's spelling.
                    tabindex: 0,
                    'aria-label': label,
                    'aria-pressed': selected === n.id,
                    onClick: select,
                    onKeyDown: (ev: KeyboardEvent) => {
                      if (ev.key === 'Enter' || ev.key === ' ') {
                        ev.preventDefault();
                        select();
                      }
                    },
                  }
                : { 'aria-hidden': 'true' })}
            >
              <title>{n.comment ? `${label}. ${n.comment}` : label}</title>
              <rect width={n.width} height={n.height} rx={n.kind === 'state' ? 6 : 15} />
              <text x={n.width / 2} y={n.kind === 'state' ? 18 : n.height / 2 + 4} text-anchor="middle">
                {n.label}
                {n.kind === 'state' ? (
                  <>
                    {' '}
                    <tspan class="sub" x={n.width / 2} y={35}>{sub}</tspan>
                  </>
                ) : null}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

/**
 * The runs table, the metric charts and the run comparison as data: which columns a set of runs
 * has, what MLflow `order_by` a column header asks for, the series of a metric history, and the
 * bars and parameter rows of a comparison. Pure, so the pages stay markup and the rules are
 * unit-tested.
 */
import type { Metric, Run } from '../api/mlflow-types';

/** A column of the runs table. */
export type RunColumn =
  | { readonly kind: 'attribute'; readonly key: 'run_name' | 'status' | 'start_time' | 'duration'; readonly label: string }
  | { readonly kind: 'metric' | 'param'; readonly key: string; readonly label: string };

const ATTRIBUTE_COLUMNS: readonly RunColumn[] = [
  { kind: 'attribute', key: 'run_name', label: 'Run' },
  { kind: 'attribute', key: 'status', label: 'Status' },
  { kind: 'attribute', key: 'start_time', label: 'Started' },
  { kind: 'attribute', key: 'duration', label: 'Duration' },
];

/**
 * The table's columns: the run attributes, then every metric and every param any run has, each
 * group sorted by key (runs of one experiment may log different keys; a missing one is a blank).
 *
 * @example
 * runColumns(runs).map((c) => c.label); // ['Run', 'Status', 'Started', 'Duration', 'mae', 'r2', 'rmse', 'alpha', 'l1_ratio']
 */
export function runColumns(runs: readonly Run[]): RunColumn[] {
  const metrics = new Set<string>();
  const params = new Set<string>();
  for (const r of runs) {
    for (const m of r.data.metrics ?? []) metrics.add(m.key);
    for (const p of r.data.params ?? []) params.add(p.key);
  }
  const sorted = (s: Set<string>) => [...s].sort((a, b) => a.localeCompare(b));
  return [
    ...ATTRIBUTE_COLUMNS,
    ...sorted(metrics).map((key): RunColumn => ({ kind: 'metric', key, label: key })),
    ...sorted(params).map((key): RunColumn => ({ kind: 'param', key, label: key })),
  ];
}

/** A stable id for a column (`metric:rmse`), used in the URL and as the table's column key. */
export const columnId = (c: RunColumn): string => `${c.kind}:${c.key}`;

/** The value a run has in a column (metrics as numbers, the rest as strings), undefined if none. */
export function cellValue(run: Run, column: RunColumn): string | number | undefined {
  switch (column.kind) {
    case 'metric':
      return run.data.metrics?.find((m) => m.key === column.key)?.value;
    case 'param':
      return run.data.params?.find((p) => p.key === column.key)?.value;
    default:
      switch (column.key) {
        case 'run_name':
          return run.info.run_name ?? run.info.run_id;
        case 'status':
          return run.info.status;
        case 'start_time':
          return run.info.start_time;
        case 'duration':
          return run.info.start_time !== undefined && run.info.end_time !== undefined
            ? run.info.end_time - run.info.start_time
            : undefined;
      }
  }
}

/** Sort state of the runs table, kept in the URL as `sort=<columnId>&desc=1`. */
export interface RunSort {
  readonly column: string;
  readonly descending: boolean;
}

/**
 * The MLflow `order_by` for a sort, so the server sorts (and pages) as MLflow would; keys are
 * back-quoted because metric and param names may hold dots or spaces. Duration has no MLflow
 * attribute: it is sorted in the page instead (`undefined` here).
 *
 * @example
 * orderByFor({ column: 'metric:rmse', descending: false }); // ['metrics.`rmse` ASC']
 */
export function orderByFor(sort: RunSort | undefined): string[] | undefined {
  if (!sort) return undefined;
  const sep = sort.column.indexOf(':');
  const kind = sort.column.slice(0, sep);
  const key = sort.column.slice(sep + 1);
  const dir = sort.descending ? 'DESC' : 'ASC';
  if (kind === 'metric' || kind === 'param') {
    return [`${kind}s.\`${key.replace(/`/g, '')}\` ${dir}`];
  }
  if (kind === 'attribute' && ['run_name', 'status', 'start_time'].includes(key)) {
    return [`attributes.${key} ${dir}`];
  }
  return undefined;
}

/** A metric's history as chart data: x = step when the run logged steps, else the log order. */
export interface HistorySeries {
  readonly x: number[];
  readonly y: number[];
  readonly xLabel: 'step' | 'index';
}

/**
 * @example
 * historySeries([{ key: 'rmse', value: 0.7, step: 1, timestamp: 2 }, { key: 'rmse', value: 0.9, step: 0, timestamp: 1 }]);
 * // { x: [0, 1], y: [0.9, 0.7], xLabel: 'step' }
 */
export function historySeries(history: readonly Metric[]): HistorySeries {
  const points = [...history].sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
  const steps = new Set(points.map((p) => p.step));
  // uPlot needs strictly increasing x; repeated steps (a metric logged twice at step 0) plot by order.
  if (steps.size === points.length) return { x: points.map((p) => p.step), y: points.map((p) => p.value), xLabel: 'step' };
  return { x: points.map((_, i) => i), y: points.map((p) => p.value), xLabel: 'index' };
}

/** What the comparison shows: one bar group per metric, and the params side by side. */
export interface Comparison {
  readonly runs: readonly { readonly id: string; readonly label: string }[];
  readonly metrics: readonly { readonly key: string; readonly bars: readonly { readonly label: string; readonly value: number }[] }[];
  readonly params: readonly { readonly key: string; readonly values: readonly (string | undefined)[]; readonly differs: boolean }[];
}

/**
 * Shapes the comparison of runs: every metric any of them has (a run without it has no bar), and
 * every param with each run's value and whether they differ. Runs keep the order given; labels are
 * run names, made unique with a short id when two runs share a name.
 */
export function comparison(runs: readonly Run[]): Comparison {
  const names = runs.map((r) => r.info.run_name ?? r.info.run_id.slice(0, 8));
  const labels = names.map((n, i) =>
    names.indexOf(n) !== names.lastIndexOf(n) ? `${n} (${runs[i]!.info.run_id.slice(0, 6)})` : n,
  );
  const columns = runColumns(runs);
  const metrics = columns
    .filter((c) => c.kind === 'metric')
    .map((c) => ({
      key: c.key,
      bars: runs.flatMap((r, i) => {
        const v = cellValue(r, c);
        return typeof v === 'number' ? [{ label: labels[i]!, value: v }] : [];
      }),
    }));
  const params = columns
    .filter((c) => c.kind === 'param')
    .map((c) => {
      const values = runs.map((r) => cellValue(r, c) as string | undefined);
      return { key: c.key, values, differs: new Set(values).size > 1 };
    });
  return { runs: runs.map((r, i) => ({ id: r.info.run_id, label: labels[i]! })), metrics, params };
}

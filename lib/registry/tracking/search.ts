/**
 * `runs/search`: MLflow's filter grammar over the runs of the given experiments, narrowed by the
 * metric index when a metric range clause allows (see {@link candidateRuns}).
 */
import { invalidParameter } from '../errors';
import {
  checkMaxResults,
  clauseMatches,
  type FilterClause,
  type OrderKey,
  paginate,
  parseFilter,
  parseOrderBy,
  sortBy,
} from '../search';
import { allOf, equals } from '../store';
import { type LoadedRun, loadRun, mapLimit, type RunItem, type RunJson, runJson, type TrackingContext, type ViewType, viewMatches } from './records';

/**
 * Searches runs of the given experiments: `metrics.<k>`, `params.<k>`, `tags.<k>` and
 * `attributes.<status|run_name|run_id|start_time|end_time|user_id|artifact_uri>` clauses joined by AND.
 */
export async function searchRuns(
  ctx: TrackingContext,
  input: {
    experimentIds?: readonly string[];
    filter?: string;
    runViewType?: ViewType;
    maxResults?: number;
    orderBy?: readonly string[];
    pageToken?: string;
  },
): Promise<{ runs: RunJson[]; next_page_token?: string }> {
  const maxResults = checkMaxResults(input.maxResults, 1000, 50_000);
  const clauses = parseFilter(input.filter);
  for (const c of clauses) {
    if (c.entity === 'attribute' && !(c.key in RUN_ATTRIBUTES)) {
      throw invalidParameter(
        `Invalid attribute key '${c.key}' specified. Valid keys are ${Object.keys(RUN_ATTRIBUTES).join(', ')}.`,
      );
    }
  }
  const order = parseOrderBy(
    input.orderBy,
    (k) => k in RUN_ATTRIBUTES || /^(metrics|params|tags)\./.test(k),
  );
  const runs = await candidateRuns(ctx, [...new Set(input.experimentIds ?? [])], clauses);
  const matches = runs.filter(
    (r): r is LoadedRun =>
      r !== undefined &&
      viewMatches(input.runViewType, r.info.lifecycleStage) &&
      clauses.every((c) => clauseMatches(c, runValue(r, c.entity, c.key))),
  );
  const defaults: OrderKey[] = order.length ? [] : [{ key: 'start_time', ascending: false }];
  sortBy(matches, [...order, ...defaults, { key: 'run_id', ascending: true }], (r, key) => {
    const dot = key.indexOf('.');
    if (dot === -1) return runValue(r, 'attribute', key);
    const entity = ({ metrics: 'metric', params: 'param', tags: 'tag' } as const)[
      key.slice(0, dot) as 'metrics'
    ];
    return runValue(r, entity, key.slice(dot + 1).replace(/^[`"](.*)[`"]$/, '$1'));
  });
  const { page, nextPageToken } = paginate(matches, maxResults, input.pageToken);
  return { runs: page.map(runJson), ...(nextPageToken && { next_page_token: nextPageToken }) };
}

const INDEXED_OPS = ['<', '<=', '>', '>=', '='] as const;
type IndexedOp = (typeof INDEXED_OPS)[number];

/**
 * The runs a search must look at. With one experiment and a `metrics.<k> <op> <number>` clause
 * (`<`, `<=`, `>`, `>=`, `=`), only the runs the metric index lists in that range are read (a run
 * without the metric cannot match); otherwise every run of the experiments. The caller applies every
 * clause and the view type to what this returns.
 */
async function candidateRuns(
  ctx: TrackingContext,
  experimentIds: string[],
  clauses: FilterClause[],
): Promise<(LoadedRun | undefined)[]> {
  const metric = clauses.find(
    (c) => c.entity === 'metric' && INDEXED_OPS.includes(c.op as IndexedOp) && typeof c.value === 'number',
  );
  let runIds: string[];
  if (experimentIds.length === 1 && metric) {
    const experimentId = experimentIds[0]!;
    await ensureMetricIndex(ctx, experimentId);
    const { entries } = await ctx.store.list({
      of: 'runsByMetric',
      experimentId,
      key: metric.key,
      op: metric.op as IndexedOp,
      value: metric.value as number,
    });
    runIds = entries.map((e) => (e.ref as { runId: string }).runId);
  } else {
    runIds = (
      await mapLimit(experimentIds, 8, async (experimentId) =>
        (await ctx.store.list({ of: 'runsOfExperiment', experimentId })).entries.map((e) => (e.record as RunItem).runId),
      )
    ).flat();
  }
  return mapLimit([...new Set(runIds)], 16, (runId) => loadRun(ctx, runId).catch(() => undefined));
}

/**
 * Latest-metric records written before they carried `experimentId` are not in the metric index: the
 * first metric search of an experiment rewrites them (each only if unchanged since read, so a newer
 * value logged meanwhile, which carries it already, is not overwritten), then records the upgrade.
 */
async function ensureMetricIndex(ctx: TrackingContext, experimentId: string): Promise<void> {
  const marker = { kind: 'upgrade', name: `runMetricIndex#${experimentId}` } as const;
  if (await ctx.store.get(marker)) return;
  const { entries: runs } = await ctx.store.list({ of: 'runsOfExperiment', experimentId });
  await mapLimit(runs, 8, async ({ record: info }) => {
    const { entries } = await ctx.store.list({ of: 'runRecords', runId: (info as RunItem).runId });
    for (const { ref, record } of entries) {
      if (ref.kind !== 'runLatestMetric' || record.experimentId !== undefined) continue;
      await ctx.store.put(
        ref,
        { ...record, experimentId },
        allOf(equals('value', record.value), equals('step', record.step), equals('timestamp', record.timestamp)),
      );
    }
  });
  await ctx.store.put(marker, { doneAt: ctx.now() });
}

const RUN_ATTRIBUTES: Record<string, (i: RunItem) => string | number | undefined> = {
  status: (i) => i.status,
  run_name: (i) => i.runName,
  run_id: (i) => i.runId,
  user_id: (i) => i.userId,
  start_time: (i) => i.startTime,
  end_time: (i) => i.endTime,
  artifact_uri: (i) => i.artifactUri,
  lifecycle_stage: (i) => i.lifecycleStage,
};

function runValue(run: LoadedRun, entity: FilterClause['entity'], key: string): string | number | undefined {
  switch (entity) {
    case 'metric':
      return run.metrics.get(key)?.value;
    case 'param':
      return run.params.get(key);
    case 'tag':
      return run.tags.get(key);
    default:
      return RUN_ATTRIBUTES[key]?.(run.info);
  }
}

/** `runs/search`: MLflow's filter grammar over the runs of the given experiments. */
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
  const infos = (
    await mapLimit([...new Set(input.experimentIds ?? [])], 8, async (experimentId) =>
      (await ctx.store.list({ of: 'runsOfExperiment', experimentId })).entries.map((e) => e.record),
    )
  )
    .flat()
    .filter((i) => viewMatches(input.runViewType, (i as RunItem).lifecycleStage)) as RunItem[];
  const runs = await mapLimit(infos, 16, (i) => loadRun(ctx, i.runId).catch(() => undefined));
  const matches = runs.filter(
    (r): r is LoadedRun =>
      r !== undefined && clauses.every((c) => clauseMatches(c, runValue(r, c.entity, c.key))),
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

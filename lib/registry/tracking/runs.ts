/**
 * Runs and what is logged to them: params (immutable), metrics (history plus a latest value that
 * only moves forward), tags (`mlflow.runName` also renames the run), lifecycle.
 */
import { randomBytes } from 'node:crypto';
import { invalidParameter, notFound } from '../errors';
import { checkMaxResults } from '../search';
import { absent, allOf, anyOf, atMost, below, equals, exists, increment, type RecordRef, set } from '../store';
import { requireName, validateBatchCounts, validateKey, validateParamValue, validateTagValue } from '../validation';
import {
  activeRun,
  DEFAULT_EXPERIMENT_ID,
  isActive,
  loadExperiment,
  loadRun,
  loadRunInfo,
  mapLimit,
  type Metric,
  metricOf,
  RUN_NAME_TAG,
  type RunInfoJson,
  runInfoJson,
  type RunItem,
  type RunJson,
  runJson,
  runNotActive,
  runRef,
  type RunStatus,
  runTagRef,
  type Tag,
  type TrackingContext,
} from './records';

/** Starts a run (`RUNNING`) in an active experiment (`0` when none is given). */
export async function createRun(
  ctx: TrackingContext,
  input: {
    experimentId?: string;
    userId?: string;
    runName?: string;
    startTime?: number;
    tags?: readonly Tag[];
  },
): Promise<RunJson> {
  await ctx.ensureDefault();
  const experiment = await loadExperiment(ctx, input.experimentId || DEFAULT_EXPERIMENT_ID);
  if (experiment.lifecycleStage !== 'active') {
    throw invalidParameter(
      `The experiment ${experiment.experimentId} must be in the 'active' state. Current state is ${experiment.lifecycleStage}.`,
    );
  }
  const tags = new Map((input.tags ?? []).map((t) => [t.key, t.value ?? '']));
  for (const [key, value] of tags) {
    validateKey('Tag key', key);
    validateTagValue(key, value);
  }
  const runName = input.runName || tags.get(RUN_NAME_TAG) || randomRunName();
  tags.set(RUN_NAME_TAG, runName);
  const runId = ctx.newId().replaceAll('-', '');
  const startTime = input.startTime ?? ctx.now();
  const info: RunItem = {
    runId,
    experimentId: experiment.experimentId,
    runName,
    userId: input.userId || undefined,
    status: 'RUNNING',
    startTime,
    artifactUri: `${experiment.artifactLocation}/${runId}/artifacts`,
    lifecycleStage: 'active',
    rev: 0,
  };
  // Tags before the info item: the run appears (in get and search) with its tags.
  await ctx.store.putAll([...tags].map(([key, value]) => ({ ref: runTagRef(runId, key), record: { key, value } })));
  await ctx.store.put(runRef(runId), info);
  return runJson({ info, params: new Map(), tags, metrics: new Map() });
}

/** Gets a run with its params, tags and latest metric values. */
export async function getRun(ctx: TrackingContext, runId: string): Promise<RunJson> {
  return runJson(await loadRun(ctx, requireName(runId, 'run_id')));
}

/** Updates status, end time and/or name of a run. */
export async function updateRun(
  ctx: TrackingContext,
  input: {
    runId: string;
    status?: RunStatus;
    endTime?: number;
    runName?: string;
  },
): Promise<RunInfoJson> {
  const run = await activeRun(ctx, input.runId);
  const changes = [increment('rev')];
  if (input.status) changes.push(set('status', input.status));
  if (input.endTime !== undefined) changes.push(set('endTime', input.endTime));
  if (input.runName) {
    changes.push(set('runName', input.runName));
    await ctx.store.put(runTagRef(run.runId, RUN_NAME_TAG), { key: RUN_NAME_TAG, value: input.runName });
  }
  const updated = await ctx.store.update(runRef(run.runId), changes, isActive);
  if (!updated) throw runNotActive(run.runId);
  return runInfoJson(updated as RunItem);
}

/** Restores a deleted run (`runs/restore`); `INVALID_PARAMETER_VALUE` if it is not deleted. */
export async function restoreRun(ctx: TrackingContext, runId: string): Promise<void> {
  const run = await loadRunInfo(ctx, requireName(runId, 'run_id'));
  const restored = await ctx.store.update(
    runRef(run.runId),
    [set('lifecycleStage', 'active'), increment('rev')],
    equals('lifecycleStage', 'deleted'),
  );
  if (!restored) {
    throw invalidParameter(`The run ${run.runId} must be in the 'deleted' state. Current state is active.`);
  }
}

/** Deletes a tag of an active run (`runs/delete-tag`); `RESOURCE_DOES_NOT_EXIST` if it has none. */
export async function deleteTag(ctx: TrackingContext, input: { runId: string; key: string }): Promise<void> {
  const run = await activeRun(ctx, input.runId);
  validateKey('Tag key', input.key ?? '');
  const deleted = await ctx.store.remove(runTagRef(run.runId, input.key), exists);
  if (!deleted) throw notFound(`No tag with name: ${input.key} in run with id ${run.runId}`);
}

/** The artifact URI of a run (`RESOURCE_DOES_NOT_EXIST` for no such run). */
export async function runArtifactUri(ctx: TrackingContext, runId: string): Promise<string> {
  return (await loadRunInfo(ctx, requireName(runId, 'run_id'))).artifactUri;
}

/** Marks a run deleted (searches skip it unless asked for deleted runs). */
export async function deleteRun(ctx: TrackingContext, runId: string): Promise<void> {
  const run = await loadRunInfo(ctx, requireName(runId, 'run_id'));
  await ctx.store.update(runRef(run.runId), [set('lifecycleStage', 'deleted'), increment('rev')], exists);
}

/** Appends a metric point (an exact duplicate is stored once, as MLflow's primary key does). */
export async function logMetric(
  ctx: TrackingContext,
  input: {
    runId: string;
    key: string;
    value: number;
    timestamp: number;
    step?: number;
  },
): Promise<void> {
  const run = await activeRun(ctx, input.runId);
  await writeMetrics(ctx, run, [
    { key: input.key, value: input.value, timestamp: input.timestamp, step: input.step ?? 0 },
  ]);
}

/** Logs a param; re-logging the same value is a no-op, a different one is rejected. */
export async function logParam(ctx: TrackingContext, input: { runId: string; key: string; value?: string }): Promise<void> {
  await activeRun(ctx, input.runId);
  await writeParams(ctx, input.runId, [{ key: input.key, value: input.value ?? '' }]);
}

/** Sets a run tag (last write wins); `mlflow.runName` also renames the run. */
export async function setTag(ctx: TrackingContext, input: { runId: string; key: string; value?: string }): Promise<void> {
  await activeRun(ctx, input.runId);
  await writeTags(ctx, input.runId, [{ key: input.key, value: input.value ?? '' }]);
}

/**
 * Logs metrics, params and tags together within MLflow's limits. As MLflow documents, a failure
 * part-way may leave part of the batch written; every part is safe to resend.
 */
export async function logBatch(
  ctx: TrackingContext,
  input: {
    runId: string;
    metrics?: readonly Metric[];
    params?: readonly Tag[];
    tags?: readonly Tag[];
  },
): Promise<void> {
  const metrics = input.metrics ?? [];
  const params = input.params ?? [];
  const tags = input.tags ?? [];
  validateBatchCounts({ metrics: metrics.length, params: params.length, tags: tags.length });
  const run = await activeRun(ctx, input.runId);
  await writeParams(ctx, input.runId, params);
  await writeMetrics(ctx, run, metrics);
  await writeTags(ctx, input.runId, tags);
}

/** Every logged point of a metric, oldest timestamp first; paged when `maxResults` is given. */
export async function getMetricHistory(
  ctx: TrackingContext,
  input: {
    runId: string;
    metricKey: string;
    maxResults?: number;
    pageToken?: string;
  },
): Promise<{ metrics: Metric[]; next_page_token?: string }> {
  await loadRunInfo(ctx, requireName(input.runId, 'run_id'));
  const key = requireName(input.metricKey, 'metric_key');
  let after: Record<string, unknown> | undefined;
  if (input.pageToken) {
    try {
      after = JSON.parse(Buffer.from(input.pageToken, 'base64').toString('utf8'));
    } catch {
      throw invalidParameter('Invalid page token, could not base64-decode');
    }
  }
  const history = { of: 'metricHistory', runId: input.runId, key } as const;
  if (input.maxResults === undefined) {
    const { entries } = await ctx.store.list(history);
    return { metrics: entries.map((e) => metricOf(key, e.record)) };
  }
  const page = await ctx.store.list(history, {
    limit: checkMaxResults(input.maxResults, 25_000, 25_000),
    after,
  });
  return {
    metrics: page.entries.map((e) => metricOf(key, e.record)),
    ...(page.next && { next_page_token: Buffer.from(JSON.stringify(page.next)).toString('base64') }),
  };
}

/** Resolves `runs:/<run_id>/<path>` to the run's artifact URI (model registry download URIs). */
export async function resolveRunsUri(ctx: TrackingContext, runId: string, path: string): Promise<string | undefined> {
  const info = await ctx.store.get(runRef(runId));
  if (!info) return undefined;
  return path ? `${info.artifactUri}/${path}` : (info.artifactUri as string);
}

export async function writeParams(ctx: TrackingContext, runId: string, params: readonly Tag[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const p of params) {
    validateKey('Param key', p.key ?? '');
    const value = p.value ?? '';
    validateParamValue(p.key, value);
    const before = seen.get(p.key);
    if (before !== undefined && before !== value) {
      throw invalidParameter(
        `Duplicate parameter keys have been submitted: [${p.key}]. Please ensure the request contains only one param value per param key.`,
      );
    }
    seen.set(p.key, value);
  }
  await mapLimit([...seen], 16, async ([key, value]) => {
    // Params are immutable: a param is written only where none is, or the same value is.
    const ref: RecordRef = { kind: 'runParam', runId, key };
    const written = await ctx.store.put(ref, { key, value }, anyOf(absent, equals('value', value)));
    if (!written) {
      const old = await ctx.store.get(ref);
      throw invalidParameter(
        `Changing param values is not allowed. Param with key='${key}' was already logged with ` +
          `value='${old?.value}' for run ID='${runId}'. Attempted logging new value '${value}'.`,
      );
    }
  });
}

/** Writes metric points and moves each metric's latest value (which carries the run's experiment, for the metric index). */
export async function writeMetrics(
  ctx: TrackingContext,
  run: Pick<RunItem, 'runId' | 'experimentId'>,
  metrics: readonly Metric[],
): Promise<void> {
  const { runId } = run;
  const points = metrics.map((m) => {
    validateKey('Metric name', m.key ?? '');
    if (typeof m.value !== 'number' || !Number.isFinite(m.value)) {
      throw invalidParameter(
        `Got invalid value ${m.value} for metric '${m.key}' (timestamp=${m.timestamp}). Please specify value as a valid double (64-bit floating point)`,
      );
    }
    return { key: m.key, value: m.value, timestamp: m.timestamp, step: m.step ?? 0 };
  });
  // A point is its own identity: a resent point overwrites its twin instead of duplicating it.
  await ctx.store.putAll([
    ...new Map(
      points.map((p) => [
        `${p.key}|${p.timestamp}|${p.step}|${p.value}`,
        {
          ref: { kind: 'metricPoint', runId, key: p.key, timestamp: p.timestamp, step: p.step, value: p.value },
          record: { value: p.value, timestamp: p.timestamp, step: p.step },
        } as const,
      ]),
    ).values(),
  ]);
  const latest = new Map<string, Metric>();
  for (const p of points) {
    const current = latest.get(p.key);
    if (!current || newer(p, current)) latest.set(p.key, p);
  }
  await mapLimit([...latest.values()], 16, (m) =>
    ctx.store.put({ kind: 'runLatestMetric', runId, key: m.key }, { ...m, experimentId: run.experimentId }, isOlderThan(m)),
  );
}

export async function writeTags(ctx: TrackingContext, runId: string, tags: readonly Tag[]): Promise<void> {
  const last = new Map<string, string>();
  for (const t of tags) {
    validateKey('Tag key', t.key ?? '');
    validateTagValue(t.key, t.value ?? '');
    last.set(t.key, t.value ?? '');
  }
  await ctx.store.putAll([...last].map(([key, value]) => ({ ref: runTagRef(runId, key), record: { key, value } })));
  const runName = last.get(RUN_NAME_TAG);
  if (runName) await ctx.store.update(runRef(runId), [set('runName', runName), increment('rev')], exists);
}

const newer = (a: Metric, b: Metric): boolean =>
  a.step !== b.step
    ? a.step > b.step
    : a.timestamp !== b.timestamp
      ? a.timestamp > b.timestamp
      : a.value > b.value;

/**
 * The latest value of a metric moves only forward: step, then timestamp, then value, as MLflow's SQL
 * store orders them, so concurrent loggers cannot regress it.
 */
const isOlderThan = (m: Metric) =>
  anyOf(
    absent,
    below('step', m.step),
    allOf(equals('step', m.step), below('timestamp', m.timestamp)),
    allOf(equals('step', m.step), equals('timestamp', m.timestamp), atMost('value', m.value)),
  );

const ADJECTIVES = ['bold', 'calm', 'brisk', 'eager', 'gentle', 'keen', 'lucid', 'merry', 'quiet', 'swift'];
const NOUNS = ['otter', 'heron', 'lynx', 'finch', 'ibex', 'koala', 'marten', 'newt', 'orca', 'wren'];

/** MLflow-style generated run names (`adjective-noun-NNN`). */
function randomRunName(): string {
  const [a, n, d] = randomBytes(3);
  return `${ADJECTIVES[a! % ADJECTIVES.length]}-${NOUNS[n! % NOUNS.length]}-${d! % 1000}`;
}

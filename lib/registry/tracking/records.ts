/**
 * What tracking keeps (experiments, runs and what is logged to them), how it finds it, and MLflow's
 * JSON views of it. Every other file of the tracking core works through {@link TrackingContext}.
 */
import { invalidParameter, MlflowError, notFound } from '../errors';
import type { NameSpace } from '../names';
import { equals, type RecordRef, type RecordStore, type StoredRecord } from '../store';
import { requireName } from '../validation';

export interface Tag {
  key: string;
  value: string;
}

export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface ExperimentJson {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: 'active' | 'deleted';
  last_update_time: number;
  creation_time: number;
  tags?: Tag[];
}

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
export const RUN_STATUSES: readonly RunStatus[] = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];
export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

export interface RunInfoJson {
  run_id: string;
  run_uuid: string;
  run_name?: string;
  experiment_id: string;
  user_id?: string;
  status: RunStatus;
  start_time?: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: 'active' | 'deleted';
}

export interface RunJson {
  info: RunInfoJson;
  data: { metrics?: Metric[]; params?: Tag[]; tags?: Tag[] };
  inputs: Record<string, never>;
}

export interface ExperimentItem extends StoredRecord {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: 'active' | 'deleted';
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
}

export interface RunItem extends StoredRecord {
  runId: string;
  experimentId: string;
  runName?: string;
  userId?: string;
  status: RunStatus;
  startTime?: number;
  endTime?: number;
  artifactUri: string;
  lifecycleStage: 'active' | 'deleted';
  rev: number;
}

export interface LoadedRun {
  info: RunItem;
  params: Map<string, string>;
  tags: Map<string, string>;
  metrics: Map<string, Metric>;
}


/** What every part of the tracking core works with, resolved once by `TrackingStore`. */
export interface TrackingContext {
  readonly store: RecordStore;
  readonly names: NameSpace;
  /** Where experiments without an explicit location keep artifacts, without a trailing slash. */
  readonly root: string;
  /** Epoch ms. */
  readonly now: () => number;
  /** A fresh unique id (run ids are its hex digits). */
  readonly newId: () => string;
  /** Creates experiment `0` (`Default`) once per store. */
  readonly ensureDefault: () => Promise<void>;
}

export const DEFAULT_EXPERIMENT_ID = '0';
export const RUN_NAME_TAG = 'mlflow.runName';

export const experimentRef = (experimentId: string): RecordRef => ({ kind: 'experiment', experimentId });
export const runRef = (runId: string): RecordRef => ({ kind: 'run', runId });
export const runTagRef = (runId: string, key: string): RecordRef => ({ kind: 'runTag', runId, key });
export const isActive = equals('lifecycleStage', 'active');

/** Experiment names; an experiment keeps its name while deleted, as in MLflow. */
export const experimentNames = (store: RecordStore): NameSpace => ({
  ref: (name) => ({ kind: 'experimentName', name }),
  ownerField: 'experimentId',
  ownerState: async (experimentId) => ((await store.get(experimentRef(experimentId))) ? 'holds' : 'never-appeared'),
});

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}


export async function loadExperiment(ctx: TrackingContext, experimentId: string): Promise<ExperimentItem> {
  const item = (await ctx.store.get(experimentRef(experimentId))) as ExperimentItem | undefined;
  if (!item) throw notFound(`No Experiment with id=${experimentId} exists`);
  return item;
}

export async function loadRunInfo(ctx: TrackingContext, runId: string): Promise<RunItem> {
  const info = (await ctx.store.get(runRef(runId))) as RunItem | undefined;
  if (!info) throw notFound(`Run with id=${runId} not found`);
  return info;
}

export async function activeRun(ctx: TrackingContext, runId: string): Promise<RunItem> {
  const info = await loadRunInfo(ctx, requireName(runId, 'run_id'));
  if (info.lifecycleStage !== 'active') throw runNotActive(runId);
  return info;
}

export async function loadRun(ctx: TrackingContext, runId: string): Promise<LoadedRun> {
  const { entries } = await ctx.store.list({ of: 'runRecords', runId });
  const info = entries.find((e) => e.ref.kind === 'run')?.record as RunItem | undefined;
  if (!info) throw notFound(`Run with id=${runId} not found`);
  const run: LoadedRun = { info, params: new Map(), tags: new Map(), metrics: new Map() };
  for (const { ref, record: i } of entries) {
    if (ref.kind === 'runParam') run.params.set(i.key as string, i.value as string);
    else if (ref.kind === 'runTag') run.tags.set(i.key as string, i.value as string);
    else if (ref.kind === 'runLatestMetric') run.metrics.set(i.key as string, metricOf(i.key as string, i));
  }
  return run;
}


export const invalidState = (message: string) => new MlflowError('INVALID_STATE', message);

export const runNotActive = (runId: string) =>
  invalidParameter(`The run ${runId} must be in the 'active' state. Current state is deleted.`);

export const metricOf = (key: string, i: StoredRecord): Metric => ({
  key,
  value: i.value as number,
  timestamp: i.timestamp as number,
  step: i.step as number,
});

export function viewMatches(view: ViewType | undefined, stage: 'active' | 'deleted'): boolean {
  if (view === 'ALL') return true;
  return view === 'DELETED_ONLY' ? stage === 'deleted' : stage === 'active';
}

export function experimentJson(e: ExperimentItem): ExperimentJson {
  const tags = Object.entries(e.tags ?? {}).map(([key, value]) => ({ key, value }));
  return {
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: e.artifactLocation,
    lifecycle_stage: e.lifecycleStage,
    last_update_time: e.updatedAt,
    creation_time: e.createdAt,
    ...(tags.length && { tags }),
  };
}

export function runInfoJson(i: RunItem): RunInfoJson {
  return {
    run_id: i.runId,
    run_uuid: i.runId,
    ...(i.runName && { run_name: i.runName }),
    experiment_id: i.experimentId,
    ...(i.userId && { user_id: i.userId }),
    status: i.status,
    ...(i.startTime !== undefined && { start_time: i.startTime }),
    ...(i.endTime !== undefined && { end_time: i.endTime }),
    artifact_uri: i.artifactUri,
    lifecycle_stage: i.lifecycleStage,
  };
}

export function runJson(run: LoadedRun): RunJson {
  const pairs = (m: Map<string, string>) =>
    [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => ({ key, value }));
  const metrics = [...run.metrics.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  const params = pairs(run.params);
  const tags = pairs(run.tags);
  return {
    info: runInfoJson(run.info),
    data: {
      ...(metrics.length && { metrics }),
      ...(params.length && { params }),
      ...(tags.length && { tags }),
    },
    inputs: {},
  };
}


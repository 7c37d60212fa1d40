/**
 * The MLflow tracking core: experiments, runs, params, metrics and tags, over the storage port
 * (`store.ts`). Knows nothing of HTTP, Lambda or the storage engine; throws {@link MlflowError}.
 *
 * Run data is one record per param, tag and latest metric, so a run has no size limit, and metric
 * history is one record per point, read back page by page. Params are immutable (written only where
 * none is, or the same value is); the latest value of a metric moves only forward (step, then
 * timestamp, then value, as MLflow's SQL store), so concurrent loggers cannot regress it. Experiment
 * names are unique through the same mechanism as model names (`names.ts`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { alreadyExists, invalidParameter, MlflowError, notFound } from './errors';
import { claimName, type NameSpace, nameOwner, releaseName } from './names';
import {
  checkMaxResults,
  clauseMatches,
  type FilterClause,
  type OrderKey,
  paginate,
  parseFilter,
  parseOrderBy,
  sortBy,
} from './search';
import {
  absent,
  allOf,
  anyOf,
  atMost,
  below,
  equals,
  exists,
  increment,
  type RecordRef,
  type RecordStore,
  set,
  setEntry,
  type StoredRecord,
} from './store';
import {
  requireName,
  validateBatchCounts,
  validateKey,
  validateParamValue,
  validateTagValue,
} from './validation';

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

export interface TrackingStoreDeps {
  readonly store: RecordStore;
  /** Where experiments without an explicit location keep artifacts, e.g. `s3://bucket/mlflow`. */
  readonly defaultArtifactRoot: string;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
}

interface ExperimentItem extends StoredRecord {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: 'active' | 'deleted';
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
}

interface RunItem extends StoredRecord {
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

interface LoadedRun {
  info: RunItem;
  params: Map<string, string>;
  tags: Map<string, string>;
  metrics: Map<string, Metric>;
}

const DEFAULT_EXPERIMENT_ID = '0';
const RUN_NAME_TAG = 'mlflow.runName';

const experimentRef = (experimentId: string): RecordRef => ({ kind: 'experiment', experimentId });
const runRef = (runId: string): RecordRef => ({ kind: 'run', runId });
const runTagRef = (runId: string, key: string): RecordRef => ({ kind: 'runTag', runId, key });
const isActive = equals('lifecycleStage', 'active');

/** Experiment names; an experiment keeps its name while deleted, as in MLflow. */
const experimentNames = (store: RecordStore): NameSpace => ({
  ref: (name) => ({ kind: 'experimentName', name }),
  ownerField: 'experimentId',
  ownerState: async (experimentId) => ((await store.get(experimentRef(experimentId))) ? 'holds' : 'never-appeared'),
});

/** Runs `fn` over `items` with at most `limit` in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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

/**
 * MLflow tracking over DynamoDB. Experiment `0` (`Default`) exists from the first call on.
 *
 * @example
 * const tracking = new TrackingStore({ db, defaultArtifactRoot: 's3://artifacts/mlflow' });
 * const experimentId = await tracking.createExperiment({ name: 'wine' });
 * const run = await tracking.createRun({ experimentId, runName: 'enet' });
 * await tracking.logMetric({ runId: run.info.run_id, key: 'rmse', value: 0.61, timestamp: Date.now() });
 */
export class TrackingStore {
  private readonly store: RecordStore;
  private readonly names: NameSpace;
  private readonly root: string;
  private readonly now: () => number;
  private defaultReady?: Promise<void>;

  constructor(deps: TrackingStoreDeps) {
    this.store = deps.store;
    this.names = experimentNames(deps.store);
    this.root = deps.defaultArtifactRoot.replace(/\/+$/, '');
    this.now = deps.clock ?? Date.now;
  }

  // ---------------------------------------------------------------- experiments

  /** Creates an experiment and returns its id; `RESOURCE_ALREADY_EXISTS` if the name is taken. */
  async createExperiment(input: {
    name: string;
    artifactLocation?: string;
    tags?: readonly Tag[];
  }): Promise<string> {
    await this.ensureDefaultExperiment();
    const name = requireName(input.name);
    if (input.artifactLocation && /[#;]/.test(input.artifactLocation)) {
      throw invalidParameter("'artifact_location' URL can't include fragments or params.");
    }
    const tags = input.tags ?? [];
    for (const t of tags) {
      validateKey('Tag key', t.key ?? '');
      validateTagValue(t.key, t.value ?? '');
    }
    const counter = await this.store.update({ kind: 'experimentSequence' }, [increment('n')]);
    const experimentId = String(counter!.n);
    const now = this.now();
    if (!(await claimName(this.store, this.names, name, experimentId, now))) {
      throw alreadyExists(`Experiment(name=${name}) already exists.`);
    }
    const item: ExperimentItem = {
      experimentId,
      name,
      artifactLocation: input.artifactLocation || `${this.root}/${experimentId}`,
      lifecycleStage: 'active',
      createdAt: now,
      updatedAt: now,
      tags: Object.fromEntries(tags.map((t) => [t.key, t.value ?? ''])),
    };
    await this.store.put(experimentRef(experimentId), item);
    return experimentId;
  }

  /** Gets an experiment by id. */
  async getExperiment(experimentId: string): Promise<ExperimentJson> {
    await this.ensureDefaultExperiment();
    return experimentJson(await this.loadExperiment(requireName(experimentId, 'experiment_id')));
  }

  /** Gets an experiment by name (`RESOURCE_DOES_NOT_EXIST` with MLflow's message if absent). */
  async getExperimentByName(name: string): Promise<ExperimentJson> {
    await this.ensureDefaultExperiment();
    requireName(name, 'experiment_name');
    const owner = await nameOwner(this.store, this.names, name);
    const item = owner && ((await this.store.get(experimentRef(owner))) as ExperimentItem | undefined);
    if (!item || item.name !== name) throw notFound(`Could not find experiment with name '${name}'`);
    return experimentJson(item);
  }

  /** Searches experiments by `name` and `tags.<k>`. */
  async searchExperiments(input: {
    filter?: string;
    maxResults?: number;
    orderBy?: readonly string[];
    pageToken?: string;
    viewType?: ViewType;
  }): Promise<{ experiments: ExperimentJson[]; next_page_token?: string }> {
    await this.ensureDefaultExperiment();
    const maxResults = checkMaxResults(input.maxResults, 1000, 50_000);
    const clauses = parseFilter(input.filter);
    for (const c of clauses) {
      if (
        !(
          c.entity === 'tag' ||
          (c.entity === 'attribute' && ['name', 'creation_time', 'last_update_time'].includes(c.key))
        )
      ) {
        throw invalidParameter(
          `Invalid attribute key '${c.key}' specified. Valid keys are name, creation_time, last_update_time and tags.<key>.`,
        );
      }
    }
    const order = parseOrderBy(input.orderBy, (k) =>
      ['name', 'experiment_id', 'creation_time', 'last_update_time'].includes(k),
    );
    const items = (await this.store.list({ of: 'experiments' })).entries.map((e) => e.record as ExperimentItem);
    const matches = items.filter(
      (e) =>
        viewMatches(input.viewType, e.lifecycleStage) &&
        clauses.every((c) =>
          clauseMatches(
            c,
            c.entity === 'tag'
              ? e.tags[c.key]
              : c.key === 'name'
                ? e.name
                : c.key === 'creation_time'
                  ? e.createdAt
                  : e.updatedAt,
          ),
        ),
    );
    const defaults: OrderKey[] = order.length ? [] : [{ key: 'creation_time', ascending: false }];
    sortBy(matches, [...order, ...defaults, { key: 'experiment_id', ascending: true }], (e, key) =>
      key === 'name'
        ? e.name
        : key === 'experiment_id'
          ? Number(e.experimentId)
          : key === 'creation_time'
            ? e.createdAt
            : e.updatedAt,
    );
    const { page, nextPageToken } = paginate(matches, maxResults, input.pageToken);
    return {
      experiments: page.map(experimentJson),
      ...(nextPageToken && { next_page_token: nextPageToken }),
    };
  }

  /**
   * Renames an active experiment (`experiments/update`). The new name is claimed first, so two
   * renames to one name cannot both win; the old name is released only once the rename holds.
   */
  async renameExperiment(input: { experimentId: string; newName?: string }): Promise<void> {
    await this.ensureDefaultExperiment();
    const experiment = await this.loadExperiment(requireName(input.experimentId, 'experiment_id'));
    if (input.newName === undefined || input.newName === '') return; // MLflow: nothing to update
    const newName = requireName(input.newName, 'new_name');
    if (experiment.lifecycleStage !== 'active') {
      throw invalidState('Cannot rename a non-active experiment.');
    }
    if (newName === experiment.name) return;
    const now = this.now();
    if (!(await claimName(this.store, this.names, newName, experiment.experimentId, now))) {
      throw alreadyExists(`Experiment(name=${newName}) already exists.`);
    }
    const renamed = await this.store.update(
      experimentRef(experiment.experimentId),
      [set('name', newName), set('updatedAt', now)],
      allOf(equals('name', experiment.name), isActive),
    );
    if (!renamed) {
      // Renamed or deleted by someone else meanwhile: give the claimed name back.
      await releaseName(this.store, this.names, newName, experiment.experimentId);
      throw new MlflowError(
        'RESOURCE_CONFLICT',
        `Experiment ${experiment.experimentId} was renamed or deleted while this rename ran; read it again and retry.`,
      );
    }
    await releaseName(this.store, this.names, experiment.name, experiment.experimentId);
  }

  /**
   * Marks an experiment and its runs deleted (`experiments/delete`); the name stays taken until it
   * is restored, as in MLflow. The default experiment cannot be deleted.
   */
  async deleteExperiment(experimentId: string): Promise<void> {
    await this.setExperimentStage(experimentId, 'deleted');
  }

  /** Restores a deleted experiment and its runs (`experiments/restore`). */
  async restoreExperiment(experimentId: string): Promise<void> {
    await this.setExperimentStage(experimentId, 'active');
  }

  /** Sets one tag of an active experiment (`experiments/set-experiment-tag`); last write wins. */
  async setExperimentTag(input: { experimentId: string; key: string; value?: string }): Promise<void> {
    await this.ensureDefaultExperiment();
    const experimentId = requireName(input.experimentId, 'experiment_id');
    validateKey('Tag key', input.key ?? '');
    const value = input.value ?? '';
    validateTagValue(input.key, value);
    const experiment = await this.loadExperiment(experimentId);
    const updated = await this.store.update(
      experimentRef(experimentId),
      [setEntry('tags', input.key, value), set('updatedAt', this.now())],
      isActive,
    );
    if (!updated) {
      throw invalidParameter(
        `The experiment ${experiment.experimentId} must be in the 'active' state. Current state is deleted.`,
      );
    }
  }

  // ---------------------------------------------------------------- runs

  /** Starts a run (`RUNNING`) in an active experiment (`0` when none is given). */
  async createRun(input: {
    experimentId?: string;
    userId?: string;
    runName?: string;
    startTime?: number;
    tags?: readonly Tag[];
  }): Promise<RunJson> {
    await this.ensureDefaultExperiment();
    const experiment = await this.loadExperiment(input.experimentId || DEFAULT_EXPERIMENT_ID);
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
    const runId = randomUUID().replaceAll('-', '');
    const startTime = input.startTime ?? this.now();
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
    await this.store.putAll([...tags].map(([key, value]) => ({ ref: runTagRef(runId, key), record: { key, value } })));
    await this.store.put(runRef(runId), info);
    return runJson({ info, params: new Map(), tags, metrics: new Map() });
  }

  /** Gets a run with its params, tags and latest metric values. */
  async getRun(runId: string): Promise<RunJson> {
    return runJson(await this.loadRun(requireName(runId, 'run_id')));
  }

  /** Updates status, end time and/or name of a run. */
  async updateRun(input: {
    runId: string;
    status?: RunStatus;
    endTime?: number;
    runName?: string;
  }): Promise<RunInfoJson> {
    const run = await this.activeRun(input.runId);
    const changes = [increment('rev')];
    if (input.status) changes.push(set('status', input.status));
    if (input.endTime !== undefined) changes.push(set('endTime', input.endTime));
    if (input.runName) {
      changes.push(set('runName', input.runName));
      await this.store.put(runTagRef(run.runId, RUN_NAME_TAG), { key: RUN_NAME_TAG, value: input.runName });
    }
    const updated = await this.store.update(runRef(run.runId), changes, isActive);
    if (!updated) throw runNotActive(run.runId);
    return runInfoJson(updated as RunItem);
  }

  /** Restores a deleted run (`runs/restore`); `INVALID_PARAMETER_VALUE` if it is not deleted. */
  async restoreRun(runId: string): Promise<void> {
    const run = await this.loadRunInfo(requireName(runId, 'run_id'));
    const restored = await this.store.update(
      runRef(run.runId),
      [set('lifecycleStage', 'active'), increment('rev')],
      equals('lifecycleStage', 'deleted'),
    );
    if (!restored) {
      throw invalidParameter(`The run ${run.runId} must be in the 'deleted' state. Current state is active.`);
    }
  }

  /** Deletes a tag of an active run (`runs/delete-tag`); `RESOURCE_DOES_NOT_EXIST` if it has none. */
  async deleteTag(input: { runId: string; key: string }): Promise<void> {
    const run = await this.activeRun(input.runId);
    validateKey('Tag key', input.key ?? '');
    const deleted = await this.store.remove(runTagRef(run.runId, input.key), exists);
    if (!deleted) throw notFound(`No tag with name: ${input.key} in run with id ${run.runId}`);
  }

  /** The artifact URI of a run (`RESOURCE_DOES_NOT_EXIST` for no such run). */
  async runArtifactUri(runId: string): Promise<string> {
    return (await this.loadRunInfo(requireName(runId, 'run_id'))).artifactUri;
  }

  /** Marks a run deleted (searches skip it unless asked for deleted runs). */
  async deleteRun(runId: string): Promise<void> {
    const run = await this.loadRunInfo(requireName(runId, 'run_id'));
    await this.store.update(runRef(run.runId), [set('lifecycleStage', 'deleted'), increment('rev')], exists);
  }

  /** Appends a metric point (an exact duplicate is stored once, as MLflow's primary key does). */
  async logMetric(input: {
    runId: string;
    key: string;
    value: number;
    timestamp: number;
    step?: number;
  }): Promise<void> {
    await this.activeRun(input.runId);
    await this.writeMetrics(input.runId, [
      { key: input.key, value: input.value, timestamp: input.timestamp, step: input.step ?? 0 },
    ]);
  }

  /** Logs a param; re-logging the same value is a no-op, a different one is rejected. */
  async logParam(input: { runId: string; key: string; value?: string }): Promise<void> {
    await this.activeRun(input.runId);
    await this.writeParams(input.runId, [{ key: input.key, value: input.value ?? '' }]);
  }

  /** Sets a run tag (last write wins); `mlflow.runName` also renames the run. */
  async setTag(input: { runId: string; key: string; value?: string }): Promise<void> {
    await this.activeRun(input.runId);
    await this.writeTags(input.runId, [{ key: input.key, value: input.value ?? '' }]);
  }

  /**
   * Logs metrics, params and tags together within MLflow's limits. As MLflow documents, a failure
   * part-way may leave part of the batch written; every part is safe to resend.
   */
  async logBatch(input: {
    runId: string;
    metrics?: readonly Metric[];
    params?: readonly Tag[];
    tags?: readonly Tag[];
  }): Promise<void> {
    const metrics = input.metrics ?? [];
    const params = input.params ?? [];
    const tags = input.tags ?? [];
    validateBatchCounts({ metrics: metrics.length, params: params.length, tags: tags.length });
    await this.activeRun(input.runId);
    await this.writeParams(input.runId, params);
    await this.writeMetrics(input.runId, metrics);
    await this.writeTags(input.runId, tags);
  }

  /** Every logged point of a metric, oldest timestamp first; paged when `maxResults` is given. */
  async getMetricHistory(input: {
    runId: string;
    metricKey: string;
    maxResults?: number;
    pageToken?: string;
  }): Promise<{ metrics: Metric[]; next_page_token?: string }> {
    await this.loadRunInfo(requireName(input.runId, 'run_id'));
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
      const { entries } = await this.store.list(history);
      return { metrics: entries.map((e) => metricOf(key, e.record)) };
    }
    const page = await this.store.list(history, {
      limit: checkMaxResults(input.maxResults, 25_000, 25_000),
      after,
    });
    return {
      metrics: page.entries.map((e) => metricOf(key, e.record)),
      ...(page.next && { next_page_token: Buffer.from(JSON.stringify(page.next)).toString('base64') }),
    };
  }

  /**
   * Searches runs of the given experiments: `metrics.<k>`, `params.<k>`, `tags.<k>` and
   * `attributes.<status|run_name|run_id|start_time|end_time|user_id|artifact_uri>` clauses joined by AND.
   */
  async searchRuns(input: {
    experimentIds?: readonly string[];
    filter?: string;
    runViewType?: ViewType;
    maxResults?: number;
    orderBy?: readonly string[];
    pageToken?: string;
  }): Promise<{ runs: RunJson[]; next_page_token?: string }> {
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
        (await this.store.list({ of: 'runsOfExperiment', experimentId })).entries.map((e) => e.record),
      )
    )
      .flat()
      .filter((i) => viewMatches(input.runViewType, (i as RunItem).lifecycleStage)) as RunItem[];
    const runs = await mapLimit(infos, 16, (i) => this.loadRun(i.runId).catch(() => undefined));
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

  /** Resolves `runs:/<run_id>/<path>` to the run's artifact URI (model registry download URIs). */
  async resolveRunsUri(runId: string, path: string): Promise<string | undefined> {
    const info = await this.store.get(runRef(runId));
    if (!info) return undefined;
    return path ? `${info.artifactUri}/${path}` : (info.artifactUri as string);
  }

  // ---------------------------------------------------------------- internals

  /** Creates experiment `0` (`Default`) once per store; conditional, so racing cold starts agree. */
  private ensureDefaultExperiment(): Promise<void> {
    this.defaultReady ??= (async () => {
      const now = this.now();
      await this.store.put(
        this.names.ref('Default'),
        { experimentId: DEFAULT_EXPERIMENT_ID, createdAt: now },
        absent,
      );
      await this.store.put(
        experimentRef(DEFAULT_EXPERIMENT_ID),
        {
          experimentId: DEFAULT_EXPERIMENT_ID,
          name: 'Default',
          artifactLocation: `${this.root}/${DEFAULT_EXPERIMENT_ID}`,
          lifecycleStage: 'active',
          createdAt: now,
          updatedAt: now,
          tags: {},
        } satisfies ExperimentItem,
        absent,
      );
    })().catch((error) => {
      this.defaultReady = undefined;
      throw error;
    });
    return this.defaultReady;
  }

  /**
   * Moves an experiment between active and deleted (one conditional write, so a racing delete and
   * restore each either apply or fail cleanly), then its runs, each with its own conditional write.
   */
  private async setExperimentStage(experimentId: string, to: 'active' | 'deleted'): Promise<void> {
    await this.ensureDefaultExperiment();
    const id = requireName(experimentId, 'experiment_id');
    if (to === 'deleted' && id === DEFAULT_EXPERIMENT_ID) {
      throw invalidParameter(
        "Cannot delete the default experiment '0'. This is an internally reserved experiment.",
      );
    }
    const from = to === 'deleted' ? 'active' : 'deleted';
    await this.loadExperiment(id);
    const moved = await this.store.update(
      experimentRef(id),
      [set('lifecycleStage', to), set('updatedAt', this.now())],
      equals('lifecycleStage', from),
    );
    // As MLflow's SQL store: deleting an experiment that is not active (or restoring one that is
    // not deleted) is "no such experiment" in the view it looks in.
    if (!moved) throw notFound(`No Experiment with id=${id} exists`);
    const { entries: runs } = await this.store.list({ of: 'runsOfExperiment', experimentId: id });
    await mapLimit(runs, 16, (r) =>
      this.store.update(r.ref, [set('lifecycleStage', to), increment('rev')], exists),
    );
  }

  private async loadExperiment(experimentId: string): Promise<ExperimentItem> {
    const item = (await this.store.get(experimentRef(experimentId))) as ExperimentItem | undefined;
    if (!item) throw notFound(`No Experiment with id=${experimentId} exists`);
    return item;
  }

  private async loadRunInfo(runId: string): Promise<RunItem> {
    const info = (await this.store.get(runRef(runId))) as RunItem | undefined;
    if (!info) throw notFound(`Run with id=${runId} not found`);
    return info;
  }

  private async activeRun(runId: string): Promise<RunItem> {
    const info = await this.loadRunInfo(requireName(runId, 'run_id'));
    if (info.lifecycleStage !== 'active') throw runNotActive(runId);
    return info;
  }

  private async loadRun(runId: string): Promise<LoadedRun> {
    const { entries } = await this.store.list({ of: 'runRecords', runId });
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

  private async writeParams(runId: string, params: readonly Tag[]): Promise<void> {
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
      const written = await this.store.put(ref, { key, value }, anyOf(absent, equals('value', value)));
      if (!written) {
        const old = await this.store.get(ref);
        throw invalidParameter(
          `Changing param values is not allowed. Param with key='${key}' was already logged with ` +
            `value='${old?.value}' for run ID='${runId}'. Attempted logging new value '${value}'.`,
        );
      }
    });
  }

  private async writeMetrics(runId: string, metrics: readonly Metric[]): Promise<void> {
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
    await this.store.putAll([
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
      this.store.put({ kind: 'runLatestMetric', runId, key: m.key }, { ...m }, isOlderThan(m)),
    );
  }

  private async writeTags(runId: string, tags: readonly Tag[]): Promise<void> {
    const last = new Map<string, string>();
    for (const t of tags) {
      validateKey('Tag key', t.key ?? '');
      validateTagValue(t.key, t.value ?? '');
      last.set(t.key, t.value ?? '');
    }
    await this.store.putAll([...last].map(([key, value]) => ({ ref: runTagRef(runId, key), record: { key, value } })));
    const runName = last.get(RUN_NAME_TAG);
    if (runName) await this.store.update(runRef(runId), [set('runName', runName), increment('rev')], exists);
  }
}

// ---------------------------------------------------------------- pure helpers

const invalidState = (message: string) => new MlflowError('INVALID_STATE', message);

const runNotActive = (runId: string) =>
  invalidParameter(`The run ${runId} must be in the 'active' state. Current state is deleted.`);

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

const metricOf = (key: string, i: StoredRecord): Metric => ({
  key,
  value: i.value as number,
  timestamp: i.timestamp as number,
  step: i.step as number,
});

function viewMatches(view: ViewType | undefined, stage: 'active' | 'deleted'): boolean {
  if (view === 'ALL') return true;
  return view === 'DELETED_ONLY' ? stage === 'deleted' : stage === 'active';
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

function experimentJson(e: ExperimentItem): ExperimentJson {
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

function runInfoJson(i: RunItem): RunInfoJson {
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

function runJson(run: LoadedRun): RunJson {
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

const ADJECTIVES = ['bold', 'calm', 'brisk', 'eager', 'gentle', 'keen', 'lucid', 'merry', 'quiet', 'swift'];
const NOUNS = ['otter', 'heron', 'lynx', 'finch', 'ibex', 'koala', 'marten', 'newt', 'orca', 'wren'];

/** MLflow-style generated run names (`adjective-noun-NNN`). */
function randomRunName(): string {
  const [a, n, d] = randomBytes(3);
  return `${ADJECTIVES[a! % ADJECTIVES.length]}-${NOUNS[n! % NOUNS.length]}-${d! % 1000}`;
}

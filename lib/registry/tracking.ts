/**
 * The MLflow tracking core: experiments, runs, params, metrics and tags, over the registry table.
 * Knows nothing of HTTP or Lambda; throws {@link MlflowError}.
 *
 * Run data is one item per param, tag and latest metric (`RUN#<id>` partition) so a run never nears
 * DynamoDB's 400 KB item limit, and metric history is one item per point in its own partition
 * (`MH#<run>#<key>`), read back page by page. Params are immutable through a conditional put; the
 * latest value of a metric moves only forward (step, then timestamp, then value, as MLflow's SQL store)
 * through a conditional put, so concurrent loggers cannot regress it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db, Item } from './db';
import { alreadyExists, invalidParameter, notFound } from './errors';
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
import { GSI1, keys, sortableInt } from './table';
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
  readonly db: Db;
  /** Where experiments without an explicit location keep artifacts, e.g. `s3://bucket/mlflow`. */
  readonly defaultArtifactRoot: string;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
}

interface ExperimentItem extends Item {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: 'active' | 'deleted';
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
}

interface RunItem extends Item {
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
const ORPHAN_POINTER_MS = 10_000;

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
  private readonly db: Db;
  private readonly root: string;
  private readonly now: () => number;
  private defaultReady?: Promise<void>;

  constructor(deps: TrackingStoreDeps) {
    this.db = deps.db;
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
    const counter = await this.db.updateIf({
      Key: keys.experimentSequence(),
      UpdateExpression: 'ADD n :one',
      ExpressionAttributeValues: { ':one': 1 },
    });
    const experimentId = String(counter!.n);
    const now = this.now();
    if (!(await this.claimExperimentName(name, experimentId, now))) {
      throw alreadyExists(`Experiment(name=${name}) already exists.`);
    }
    const item: ExperimentItem = {
      ...keys.experiment(experimentId),
      gsi1pk: 'EXP',
      gsi1sk: name,
      experimentId,
      name,
      artifactLocation: input.artifactLocation || `${this.root}/${experimentId}`,
      lifecycleStage: 'active',
      createdAt: now,
      updatedAt: now,
      tags: Object.fromEntries(tags.map((t) => [t.key, t.value ?? ''])),
    };
    await this.db.put(item);
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
    const pointer = await this.db.get(keys.experimentName(name));
    const item =
      pointer && ((await this.db.get(keys.experiment(pointer.experimentId as string))) as ExperimentItem);
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
    const items = (await this.db.queryAll({
      IndexName: GSI1,
      KeyConditionExpression: 'gsi1pk = :e',
      ExpressionAttributeValues: { ':e': 'EXP' },
    })) as ExperimentItem[];
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

  /** MLflow's soft delete: the experiment stays (and keeps its name) in the `deleted` stage. */
  async deleteExperiment(experimentId: string): Promise<void> {
    await this.moveExperiment(experimentId, 'active', 'deleted');
  }

  /** Brings a deleted experiment back to `active`. */
  async restoreExperiment(experimentId: string): Promise<void> {
    await this.moveExperiment(experimentId, 'deleted', 'active');
  }

  private async moveExperiment(
    experimentId: string,
    from: 'active' | 'deleted',
    to: 'active' | 'deleted',
  ): Promise<void> {
    await this.ensureDefaultExperiment();
    const experiment = await this.loadExperiment(requireName(experimentId, 'experiment_id'));
    if (to === 'deleted' && experiment.experimentId === DEFAULT_EXPERIMENT_ID) {
      throw invalidParameter("Cannot delete the default experiment '0'. This is an internally reserved experiment.");
    }
    const moved = await this.db.updateIf({
      Key: keys.experiment(experiment.experimentId),
      UpdateExpression: 'SET lifecycleStage = :to, updatedAt = :now',
      ConditionExpression: 'lifecycleStage = :from',
      ExpressionAttributeValues: { ':to': to, ':from': from, ':now': this.now() },
    });
    if (!moved) {
      throw invalidParameter(
        `The experiment ${experiment.experimentId} must be in the '${from}' state, but it is ${to === 'deleted' ? 'already deleted' : 'active'}.`,
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
      ...keys.run(runId),
      gsi1pk: `EXPRUNS#${experiment.experimentId}`,
      gsi1sk: `${sortableInt(startTime)}#${runId}`,
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
    await this.db.batchWrite([...tags].map(([key, value]) => ({ ...keys.runTag(runId, key), key, value })));
    await this.db.put(info);
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
    const sets = ['rev = rev + :one'];
    const values: Record<string, unknown> = { ':one': 1, ':active': 'active' };
    const names: Record<string, string> = { '#lc': 'lifecycleStage' };
    if (input.status) {
      sets.push('#status = :status');
      names['#status'] = 'status';
      values[':status'] = input.status;
    }
    if (input.endTime !== undefined) {
      sets.push('endTime = :end');
      values[':end'] = input.endTime;
    }
    if (input.runName) {
      sets.push('runName = :name');
      values[':name'] = input.runName;
      await this.db.put({ ...keys.runTag(run.runId, RUN_NAME_TAG), key: RUN_NAME_TAG, value: input.runName });
    }
    const updated = await this.db.updateIf({
      Key: keys.run(run.runId),
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: '#lc = :active',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
    if (!updated) throw runNotActive(run.runId);
    return runInfoJson(updated as RunItem);
  }

  /** Marks a run deleted (searches skip it unless asked for deleted runs). */
  async deleteRun(runId: string): Promise<void> {
    const run = await this.loadRunInfo(requireName(runId, 'run_id'));
    await this.db.updateIf({
      Key: keys.run(run.runId),
      UpdateExpression: 'SET lifecycleStage = :deleted, rev = rev + :one',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':deleted': 'deleted', ':one': 1 },
    });
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
    let start: Record<string, unknown> | undefined;
    if (input.pageToken) {
      try {
        start = JSON.parse(Buffer.from(input.pageToken, 'base64').toString('utf8'));
      } catch {
        throw invalidParameter('Invalid page token, could not base64-decode');
      }
    }
    const query = {
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.metricHistory(input.runId, key) },
    };
    if (input.maxResults === undefined) {
      const items = await this.db.queryAll(query);
      return { metrics: items.map((i) => metricOf(key, i)) };
    }
    const page = await this.db.queryPage({
      ...query,
      Limit: checkMaxResults(input.maxResults, 25_000, 25_000),
      ExclusiveStartKey: start,
    });
    return {
      metrics: page.items.map((i) => metricOf(key, i)),
      ...(page.lastKey && { next_page_token: Buffer.from(JSON.stringify(page.lastKey)).toString('base64') }),
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
      await mapLimit([...new Set(input.experimentIds ?? [])], 8, (id) =>
        this.db.queryAll({
          IndexName: GSI1,
          KeyConditionExpression: 'gsi1pk = :e',
          ExpressionAttributeValues: { ':e': `EXPRUNS#${id}` },
        }),
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
    const info = await this.db.get(keys.run(runId));
    if (!info) return undefined;
    return path ? `${info.artifactUri}/${path}` : (info.artifactUri as string);
  }

  // ---------------------------------------------------------------- internals

  /** Creates experiment `0` (`Default`) once per store; conditional, so racing cold starts agree. */
  private ensureDefaultExperiment(): Promise<void> {
    this.defaultReady ??= (async () => {
      const now = this.now();
      await this.db.putIf({
        Item: { ...keys.experimentName('Default'), experimentId: DEFAULT_EXPERIMENT_ID, createdAt: now },
        ConditionExpression: 'attribute_not_exists(pk)',
      });
      await this.db.putIf({
        Item: {
          ...keys.experiment(DEFAULT_EXPERIMENT_ID),
          gsi1pk: 'EXP',
          gsi1sk: 'Default',
          experimentId: DEFAULT_EXPERIMENT_ID,
          name: 'Default',
          artifactLocation: `${this.root}/${DEFAULT_EXPERIMENT_ID}`,
          lifecycleStage: 'active',
          createdAt: now,
          updatedAt: now,
          tags: {},
        } satisfies ExperimentItem,
        ConditionExpression: 'attribute_not_exists(pk)',
      });
    })().catch((error) => {
      this.defaultReady = undefined;
      throw error;
    });
    return this.defaultReady;
  }

  private async claimExperimentName(name: string, experimentId: string, now: number): Promise<boolean> {
    const item = { ...keys.experimentName(name), experimentId, createdAt: now };
    if (await this.db.putIf({ Item: item, ConditionExpression: 'attribute_not_exists(pk)' })) return true;
    const pointer = await this.db.get(keys.experimentName(name));
    if (!pointer) return this.claimExperimentName(name, experimentId, now);
    // A pointer whose experiment never appeared is left over from a crashed create.
    const existing = await this.db.get(keys.experiment(pointer.experimentId as string));
    if (existing || now - (pointer.createdAt as number) <= ORPHAN_POINTER_MS) return false;
    return this.db.putIf({
      Item: item,
      ConditionExpression: 'experimentId = :old',
      ExpressionAttributeValues: { ':old': pointer.experimentId },
    });
  }

  private async loadExperiment(experimentId: string): Promise<ExperimentItem> {
    const item = (await this.db.get(keys.experiment(experimentId))) as ExperimentItem | undefined;
    if (!item) throw notFound(`No Experiment with id=${experimentId} exists`);
    return item;
  }

  private async loadRunInfo(runId: string): Promise<RunItem> {
    const info = (await this.db.get(keys.run(runId))) as RunItem | undefined;
    if (!info) throw notFound(`Run with id=${runId} not found`);
    return info;
  }

  private async activeRun(runId: string): Promise<RunItem> {
    const info = await this.loadRunInfo(requireName(runId, 'run_id'));
    if (info.lifecycleStage !== 'active') throw runNotActive(runId);
    return info;
  }

  private async loadRun(runId: string): Promise<LoadedRun> {
    const items = await this.db.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.run(runId).pk },
    });
    const info = items.find((i) => i.sk === '#INFO') as RunItem | undefined;
    if (!info) throw notFound(`Run with id=${runId} not found`);
    const run: LoadedRun = { info, params: new Map(), tags: new Map(), metrics: new Map() };
    for (const i of items) {
      const sk = i.sk as string;
      if (sk.startsWith('P#')) run.params.set(i.key as string, i.value as string);
      else if (sk.startsWith('T#')) run.tags.set(i.key as string, i.value as string);
      else if (sk.startsWith('L#')) run.metrics.set(i.key as string, metricOf(i.key as string, i));
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
      const written = await this.db.putIf({
        Item: { ...keys.runParam(runId, key), key, value },
        ConditionExpression: 'attribute_not_exists(pk) OR #v = :v',
        ExpressionAttributeNames: { '#v': 'value' },
        ExpressionAttributeValues: { ':v': value },
      });
      if (!written) {
        const old = await this.db.get(keys.runParam(runId, key));
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
    // The sort key is the point itself: a resent point overwrites its twin instead of duplicating it.
    await this.db.batchWrite([
      ...new Map(
        points.map((p) => {
          const item = {
            pk: keys.metricHistory(runId, p.key),
            sk: `${sortableInt(p.timestamp)}#${sortableInt(p.step)}#${p.value}`,
            value: p.value,
            timestamp: p.timestamp,
            step: p.step,
          };
          return [`${item.pk}|${item.sk}`, item];
        }),
      ).values(),
    ]);
    const latest = new Map<string, Metric>();
    for (const p of points) {
      const current = latest.get(p.key);
      if (!current || newer(p, current)) latest.set(p.key, p);
    }
    await mapLimit([...latest.values()], 16, (m) =>
      this.db.putIf({
        Item: { ...keys.runLatestMetric(runId, m.key), ...m },
        ConditionExpression:
          'attribute_not_exists(pk) OR step < :s OR (step = :s AND #t < :t) OR (step = :s AND #t = :t AND #v <= :v)',
        ExpressionAttributeNames: { '#t': 'timestamp', '#v': 'value' },
        ExpressionAttributeValues: { ':s': m.step, ':t': m.timestamp, ':v': m.value },
      }),
    );
  }

  private async writeTags(runId: string, tags: readonly Tag[]): Promise<void> {
    const last = new Map<string, string>();
    for (const t of tags) {
      validateKey('Tag key', t.key ?? '');
      validateTagValue(t.key, t.value ?? '');
      last.set(t.key, t.value ?? '');
    }
    await this.db.batchWrite([...last].map(([key, value]) => ({ ...keys.runTag(runId, key), key, value })));
    const runName = last.get(RUN_NAME_TAG);
    if (runName) {
      await this.db.updateIf({
        Key: keys.run(runId),
        UpdateExpression: 'SET runName = :n, rev = rev + :one',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':n': runName, ':one': 1 },
      });
    }
  }
}

// ---------------------------------------------------------------- pure helpers

const runNotActive = (runId: string) =>
  invalidParameter(`The run ${runId} must be in the 'active' state. Current state is deleted.`);

const newer = (a: Metric, b: Metric): boolean =>
  a.step !== b.step
    ? a.step > b.step
    : a.timestamp !== b.timestamp
      ? a.timestamp > b.timestamp
      : a.value > b.value;

const metricOf = (key: string, i: Item): Metric => ({
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

/**
 * The MLflow tracking core: experiments, runs, params, metrics and tags, over the storage port
 * (`../store.ts`). Knows nothing of HTTP, Lambda or the storage engine; throws {@link MlflowError}.
 *
 * Run data is one record per param, tag and latest metric, so a run has no size limit, and metric
 * history is one record per point, read back page by page. Params are immutable (written only where
 * none is, or the same value is); the latest value of a metric moves only forward (step, then
 * timestamp, then value, as MLflow's SQL store), so concurrent loggers cannot regress it. Experiment
 * names are unique through the same mechanism as model names (`../names.ts`). Each concern is a file:
 * `experiments.ts`, `runs.ts`, `search.ts`; `records.ts` holds what is stored and its JSON views.
 */
import { randomUUID } from 'node:crypto';
import type { RecordStore } from '../store';
import * as experiments from './experiments';
import {
  type ExperimentJson,
  experimentNames,
  type Metric,
  type RunInfoJson,
  type RunJson,
  type RunStatus,
  type Tag,
  type TrackingContext,
  type ViewType,
} from './records';
import * as runs from './runs';
import * as search from './search';

export {
  type ExperimentJson,
  type Metric,
  RUN_STATUSES,
  type RunInfoJson,
  type RunJson,
  type RunStatus,
  type Tag,
  type ViewType,
} from './records';

export interface TrackingStoreDeps {
  readonly store: RecordStore;
  /** Where experiments without an explicit location keep artifacts, e.g. `s3://bucket/mlflow`. */
  readonly defaultArtifactRoot: string;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
  /** Fresh unique ids. @default randomUUID */
  readonly ids?: () => string;
}

type SearchInput = { filter?: string; maxResults?: number; orderBy?: readonly string[]; pageToken?: string };

/**
 * MLflow tracking over a {@link RecordStore}. Experiment `0` (`Default`) exists from the first call on.
 *
 * @example
 * const tracking = new TrackingStore({ store, defaultArtifactRoot: 's3://artifacts/mlflow' });
 * const experimentId = await tracking.createExperiment({ name: 'wine' });
 * const run = await tracking.createRun({ experimentId, runName: 'enet' });
 * await tracking.logMetric({ runId: run.info.run_id, key: 'rmse', value: 0.61, timestamp: Date.now() });
 */
export class TrackingStore {
  private readonly ctx: TrackingContext;
  private defaultReady?: Promise<void>;

  constructor(deps: TrackingStoreDeps) {
    const base = {
      store: deps.store,
      names: experimentNames(deps.store),
      root: deps.defaultArtifactRoot.replace(/\/+$/, ''),
      now: deps.clock ?? Date.now,
      newId: deps.ids ?? randomUUID,
    };
    this.ctx = { ...base, ensureDefault: () => this.ensureDefaultExperiment(base) };
  }

  /** Creates experiment `0` once per store instance; a failed attempt is tried again by the next call. */
  private ensureDefaultExperiment(base: Omit<TrackingContext, 'ensureDefault'>): Promise<void> {
    this.defaultReady ??= experiments.createDefaultExperiment(base).catch((error: unknown) => {
      this.defaultReady = undefined;
      throw error;
    });
    return this.defaultReady;
  }

  createExperiment(input: { name: string; artifactLocation?: string; tags?: readonly Tag[] }): Promise<string> {
    return experiments.createExperiment(this.ctx, input);
  }
  getExperiment(experimentId: string): Promise<ExperimentJson> {
    return experiments.getExperiment(this.ctx, experimentId);
  }
  getExperimentByName(name: string): Promise<ExperimentJson> {
    return experiments.getExperimentByName(this.ctx, name);
  }
  searchExperiments(
    input: SearchInput & { viewType?: ViewType },
  ): Promise<{ experiments: ExperimentJson[]; next_page_token?: string }> {
    return experiments.searchExperiments(this.ctx, input);
  }
  renameExperiment(input: { experimentId: string; newName?: string }): Promise<void> {
    return experiments.renameExperiment(this.ctx, input);
  }
  deleteExperiment(experimentId: string): Promise<void> {
    return experiments.deleteExperiment(this.ctx, experimentId);
  }
  restoreExperiment(experimentId: string): Promise<void> {
    return experiments.restoreExperiment(this.ctx, experimentId);
  }
  setExperimentTag(input: { experimentId: string; key: string; value?: string }): Promise<void> {
    return experiments.setExperimentTag(this.ctx, input);
  }

  createRun(input: {
    experimentId?: string;
    userId?: string;
    runName?: string;
    startTime?: number;
    tags?: readonly Tag[];
  }): Promise<RunJson> {
    return runs.createRun(this.ctx, input);
  }
  getRun(runId: string): Promise<RunJson> {
    return runs.getRun(this.ctx, runId);
  }
  updateRun(input: { runId: string; status?: RunStatus; endTime?: number; runName?: string }): Promise<RunInfoJson> {
    return runs.updateRun(this.ctx, input);
  }
  restoreRun(runId: string): Promise<void> {
    return runs.restoreRun(this.ctx, runId);
  }
  deleteRun(runId: string): Promise<void> {
    return runs.deleteRun(this.ctx, runId);
  }
  deleteTag(input: { runId: string; key: string }): Promise<void> {
    return runs.deleteTag(this.ctx, input);
  }
  runArtifactUri(runId: string): Promise<string> {
    return runs.runArtifactUri(this.ctx, runId);
  }
  logMetric(input: { runId: string; key: string; value: number; timestamp: number; step?: number }): Promise<void> {
    return runs.logMetric(this.ctx, input);
  }
  logParam(input: { runId: string; key: string; value?: string }): Promise<void> {
    return runs.logParam(this.ctx, input);
  }
  setTag(input: { runId: string; key: string; value?: string }): Promise<void> {
    return runs.setTag(this.ctx, input);
  }
  logBatch(input: {
    runId: string;
    metrics?: readonly Metric[];
    params?: readonly Tag[];
    tags?: readonly Tag[];
  }): Promise<void> {
    return runs.logBatch(this.ctx, input);
  }
  getMetricHistory(input: {
    runId: string;
    metricKey: string;
    maxResults?: number;
    pageToken?: string;
  }): Promise<{ metrics: Metric[]; next_page_token?: string }> {
    return runs.getMetricHistory(this.ctx, input);
  }
  /** Resolves `runs:/<run_id>/<path>` to the run's artifact URI (model registry download URIs). */
  resolveRunsUri(runId: string, path: string): Promise<string | undefined> {
    return runs.resolveRunsUri(this.ctx, runId, path);
  }
  searchRuns(
    input: SearchInput & { experimentIds?: readonly string[]; runViewType?: ViewType },
  ): Promise<{ runs: RunJson[]; next_page_token?: string }> {
    return search.searchRuns(this.ctx, input);
  }
}


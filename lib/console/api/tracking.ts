/**
 * The MLflow tracking and registry calls of the Experiments and Models pages, on the shell's
 * `mlflowGet` / `mlflowPost` (`/api/2.0/mlflow/...` on the gateway), with MLflow's JSON types.
 * Errors arrive as the shell's `ApiError` carrying MLflow's `error_code` and message, so a bad
 * filter is shown the way MLflow words it.
 *
 * @example
 * const { runs } = await tracking.searchRuns({ experimentIds: ['1'], filter: 'metrics.rmse < 0.8' });
 */
import { mlflow, mlflowGet, mlflowPost } from './mlflow';
import type { Experiment, Metric, ModelVersion, RegisteredModel, Run, Stage } from './mlflow-types';

export { type Experiment, type KeyValue, type Metric, type ModelVersion, type RegisteredModel, type Run, type RunInfo, type RunStatus, STAGES, type Stage } from './mlflow-types';

export interface SearchRunsInput {
  readonly experimentIds: readonly string[];
  /** MLflow's filter syntax, passed through as typed (`metrics.rmse < 0.8 and params.alpha = '0.1'`). */
  readonly filter?: string;
  /** MLflow's `order_by` (``metrics.`rmse` ASC``). */
  readonly orderBy?: readonly string[];
  /** @default 200 */
  readonly maxResults?: number;
}

/** MLflow's string literal: single-quoted, quotes escaped. */
const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export const tracking = {
  async experiments(): Promise<Experiment[]> {
    const res = await mlflowGet<{ experiments?: Experiment[] }>('experiments/search', { max_results: 1000 });
    return res.experiments ?? [];
  },
  async searchRuns(input: SearchRunsInput): Promise<Run[]> {
    const filter = input.filter?.trim();
    const res = await mlflowPost<{ runs?: Run[] }>('runs/search', {
      experiment_ids: input.experimentIds,
      ...(filter && { filter }),
      ...(input.orderBy?.length && { order_by: input.orderBy }),
      max_results: input.maxResults ?? 200,
    });
    return res.runs ?? [];
  },
  async run(runId: string): Promise<Run> {
    return (await mlflowGet<{ run: Run }>('runs/get', { run_id: runId })).run;
  },
  /** Every value of one metric of a run, following page tokens (at most 100 pages). */
  async metricHistory(runId: string, metricKey: string): Promise<Metric[]> {
    const all: Metric[] = [];
    let page_token: string | undefined;
    for (let page = 0; page < 100; page++) {
      const res = await mlflowGet<{ metrics?: Metric[]; next_page_token?: string }>('metrics/get-history', {
        run_id: runId,
        metric_key: metricKey,
        page_token,
      });
      all.push(...(res.metrics ?? []));
      page_token = res.next_page_token;
      if (!page_token) break;
    }
    return all;
  },
  /** Every registered model (the shell's listing, read with the registry's full types). */
  models: () => mlflow.registeredModels() as Promise<unknown> as Promise<RegisteredModel[]>,
  async version(name: string, version: string): Promise<ModelVersion> {
    return (await mlflowGet<{ model_version: ModelVersion }>('model-versions/get', { name, version })).model_version;
  },
  async model(name: string): Promise<RegisteredModel> {
    return (await mlflowGet<{ registered_model: RegisteredModel }>('registered-models/get', { name })).registered_model;
  },
  /** Every version of a model, newest first. */
  async versions(name: string): Promise<ModelVersion[]> {
    const res = await mlflowGet<{ model_versions?: ModelVersion[] }>('model-versions/search', {
      filter: `name = ${literal(name)}`,
      max_results: 1000,
    });
    return [...(res.model_versions ?? [])].sort((a, b) => Number(b.version) - Number(a.version));
  },
  async transitionStage(input: { name: string; version: string; stage: Stage; archiveExistingVersions: boolean }): Promise<ModelVersion> {
    const res = await mlflowPost<{ model_version: ModelVersion }>('model-versions/transition-stage', {
      name: input.name,
      version: input.version,
      stage: input.stage,
      archive_existing_versions: input.archiveExistingVersions,
    });
    return res.model_version;
  },
  async setAlias(input: { name: string; alias: string; version: string }): Promise<void> {
    await mlflowPost('registered-models/alias', input);
  },
};

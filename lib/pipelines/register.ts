/**
 * "Register model": records the training run in the MLflow registry and registers the model
 * version, idempotently per Step Functions execution, so a retried step leaves one run and one
 * version:
 *
 * 1. the registered model and the experiment (named after the model) are fetched or created;
 * 2. the run is found by the `mlops.execution` tag, or created with the execution name as run name;
 *    its params (hyperparameters, dataset), metrics (holdout) and tags (data version, training job)
 *    are logged once, and it is marked FINISHED;
 * 3. the model version is found by `run_id` (and source), or created with source = the artifact
 *    URI and the `X-Mlops-Idempotent` header (the kit's registry then answers a repeat with the same
 *    version; a plain MLflow server ignores the header, and step 3's search still holds).
 *
 * All or nothing, as the pipeline sees it: the registry has no transactions, so what steps 1–2
 * create carries the execution's name (tag `mlops.execution`), and a registration that fails
 * before its version exists is rolled back ({@link rollbackRegistration}): its runs are marked
 * FAILED and deleted, and a registered model or experiment it created is deleted if nothing else
 * is in it. A platform killed mid-step rolls back the same way when it starts again.
 *
 * @example
 * const { version } = await registerModel(client, { model_name: 'wine-quality', execution: 'run-1', … });
 */
import { VERSION_TAGS } from '../shared/operations';
import type { DataVersionRef } from './data-version';
import { isAliasNotFound, isAlreadyExists, isNotFound, type MlflowClient } from './mlflow-client';

export const EXECUTION_TAG = 'mlops.execution';

export interface RegisterRequest {
  readonly model_name: string;
  readonly execution: string;
  /** `s3://…/model.tar.gz`. */
  readonly model_uri: string;
  readonly training_job_name: string;
  readonly hyperparameters: Readonly<Record<string, string>>;
  readonly metrics: {
    readonly rmse: number;
    readonly mae: number;
    readonly r2: number;
    readonly rows: number;
  };
  /** The dataset, or with a feature service the labels table and the service. */
  readonly dataset: { readonly table: string; readonly location: string; readonly feature_service?: string };
  /** The plan's reference to the run's `data-version.json` (see ./data-version.ts). */
  readonly data_version: DataVersionRef;
  /** The event that started the run (the retraining rule); its fields become `mlops.trigger.*` run tags. */
  readonly trigger?: { readonly reason: string; readonly report_uri: string | null; readonly event_id: string } | null;
  /**
   * Hex SHA-256 of the artifact at `model_uri`, recorded as the version tag
   * `VERSION_TAGS.artifactSha256` (a release to another environment verifies its copy against it).
   */
  readonly artifact_sha256?: string;
  /**
   * The S3 object version of the artifact that digest was computed over, recorded as
   * `VERSION_TAGS.artifactVersionId`: the model server reads exactly that version.
   */
  readonly artifact_version_id?: string;
  /** `s3://…/baseline.json`, named on the version by the {@link VERSION_TAGS} `baselineUri` tag. */
  readonly baseline_uri?: string;
}

/** Run tags naming what started a retraining run. */
export const TRIGGER_TAGS = {
  reason: 'mlops.trigger.reason',
  reportUri: 'mlops.trigger.report_uri',
  eventId: 'mlops.trigger.event_id',
} as const;

export interface Registration {
  readonly model_name: string;
  readonly version: string;
  readonly run_id: string;
  readonly experiment_id: string;
}

interface RunJson {
  info: { run_id: string; status?: string };
}
interface ModelVersionJson {
  version: string;
  run_id?: string;
  source?: string;
}

/** The holdout metrics under the names they are logged with (and compared by later runs). */
export const metricKeys = { rmse: 'holdout_rmse', mae: 'holdout_mae', r2: 'holdout_r2' } as const;

export async function registerModel(
  client: MlflowClient,
  request: RegisterRequest,
  now: () => number = Date.now,
): Promise<Registration> {
  try {
    return await register(client, request, now);
  } catch (err) {
    // Best effort: a registry that is down now is rolled back by the next attempt or restart.
    await rollbackRegistration(client, request, now).catch(() => undefined);
    throw err;
  }
}

async function register(
  client: MlflowClient,
  request: RegisterRequest,
  now: () => number,
): Promise<Registration> {
  const name = request.model_name;
  const createdBy = [{ key: EXECUTION_TAG, value: request.execution }];
  await ensure(
    () => client.get('registered-models/get', { name }),
    () =>
      client.post('registered-models/create', {
        name,
        tags: createdBy,
        description: `Trained by the mlops-kit training pipeline from ${request.dataset.feature_service ? `feature service ${request.dataset.feature_service} on ` : ''}${request.dataset.table}`,
      }),
  );
  const experimentId = await experimentIdFor(client, name, createdBy);

  const found = await client.post<{ runs?: RunJson[] }>('runs/search', {
    experiment_ids: [experimentId],
    filter: `tags.\`${EXECUTION_TAG}\` = '${request.execution}'`,
    max_results: 1,
  });
  let run = found.runs?.[0];
  if (!run) {
    const created = await client.post<{ run: RunJson }>('runs/create', {
      experiment_id: experimentId,
      run_name: request.execution,
      start_time: now(),
      tags: [{ key: EXECUTION_TAG, value: request.execution }],
    });
    run = created.run;
  }
  const runId = run.info.run_id;
  if (run.info.status !== 'FINISHED') {
    const timestamp = now();
    await client.post('runs/log-batch', {
      run_id: runId,
      params: [
        ...Object.entries(request.hyperparameters).map(([key, value]) => ({ key, value })),
        { key: 'dataset', value: request.dataset.table },
        ...(request.dataset.feature_service
          ? [{ key: 'feature_service', value: request.dataset.feature_service }]
          : []),
      ],
      metrics: [
        ...Object.entries(metricKeys).map(([m, key]) => ({
          key,
          value: request.metrics[m as keyof typeof metricKeys],
          timestamp,
          step: 0,
        })),
        { key: 'holdout_rows', value: request.metrics.rows, timestamp, step: 0 },
      ],
      tags: [
        { key: 'mlops.dataset_location', value: request.dataset.location },
        { key: 'mlops.data_version', value: JSON.stringify(request.data_version) },
        { key: 'mlops.training_job', value: request.training_job_name },
        { key: 'mlops.model_uri', value: request.model_uri },
        ...(request.trigger
          ? [
              { key: TRIGGER_TAGS.reason, value: request.trigger.reason },
              ...(request.trigger.report_uri ? [{ key: TRIGGER_TAGS.reportUri, value: request.trigger.report_uri }] : []),
              { key: TRIGGER_TAGS.eventId, value: request.trigger.event_id },
            ]
          : []),
      ],
    });
    await client.post('runs/update', { run_id: runId, status: 'FINISHED', end_time: now() });
  }

  const versions = await client.get<{ model_versions?: ModelVersionJson[] }>('model-versions/search', {
    filter: `name = '${name}' and run_id = '${runId}'`,
  });
  let version = versions.model_versions?.find(
    (v) => v.source === undefined || v.source === request.model_uri,
  );
  if (!version) {
    const created = await client.post<{ model_version: ModelVersionJson }>(
      'model-versions/create',
      {
        name,
        source: request.model_uri,
        run_id: runId,
        tags: [
          { key: EXECUTION_TAG, value: request.execution },
          { key: VERSION_TAGS.dataVersionUri, value: request.data_version.uri },
          { key: VERSION_TAGS.dataVersionSha256, value: request.data_version.sha256 },
          ...(request.artifact_sha256 ? [{ key: VERSION_TAGS.artifactSha256, value: request.artifact_sha256 }] : []),
          ...(request.artifact_version_id
            ? [{ key: VERSION_TAGS.artifactVersionId, value: request.artifact_version_id }]
            : []),
          ...(request.baseline_uri ? [{ key: VERSION_TAGS.baselineUri, value: request.baseline_uri }] : []),
        ],
        description: `holdout rmse ${request.metrics.rmse.toFixed(4)}, r2 ${request.metrics.r2.toFixed(4)}`,
      },
      { 'x-mlops-idempotent': 'true' },
    );
    version = created.model_version;
  } else if (request.baseline_uri) {
    // A retried step finds its version: the tag is set again, so a first attempt that died between
    // the create and its answer still leaves the version naming its baseline.
    await client.post('model-versions/set-tag', {
      name,
      version: String(version.version),
      key: VERSION_TAGS.baselineUri,
      value: request.baseline_uri,
    });
  }
  return { model_name: name, version: String(version.version), run_id: runId, experiment_id: experimentId };
}

async function ensure(get: () => Promise<unknown>, create: () => Promise<unknown>): Promise<void> {
  try {
    await get();
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await create();
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

interface ExperimentJson {
  experiment_id: string;
  lifecycle_stage?: string;
  tags?: { key: string; value: string }[];
}

/** The model's experiment, created (tagged with its creator) if missing, restored if a rollback deleted it. */
export async function experimentIdFor(
  client: MlflowClient,
  name: string,
  tags: readonly { key: string; value: string }[],
): Promise<string> {
  const get = async () => {
    const { experiment } = await client.get<{ experiment: ExperimentJson }>('experiments/get-by-name', {
      experiment_name: name,
    });
    if (experiment.lifecycle_stage === 'deleted') {
      await client.post('experiments/restore', { experiment_id: experiment.experiment_id });
    }
    return experiment.experiment_id;
  };
  try {
    return await get();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    return (await client.post<{ experiment_id: string }>('experiments/create', { name, tags })).experiment_id;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    return get();
  }
}

/** What {@link rollbackRegistration} removed. */
export interface Rollback {
  /** False when the execution's version exists: the registration completed and stays. */
  readonly rolledBack: boolean;
  readonly runs: readonly string[];
  readonly experiment?: string;
  readonly registeredModel?: string;
}

/**
 * Undoes what a registration by `execution` left without a model version: its runs are marked
 * FAILED and deleted; the experiment is deleted if a pipeline created it and no active run is
 * left in it; the registered model is deleted if this execution created it and it has no version.
 * A registration that completed (a version from one of its runs exists) is left alone. Safe to
 * repeat, and safe when nothing was created.
 *
 * @example
 * await rollbackRegistration(client, { model_name: 'wine-quality', execution: 'startup-1795430196807' });
 */
export async function rollbackRegistration(
  client: MlflowClient,
  request: Pick<RegisterRequest, 'model_name' | 'execution'>,
  now: () => number = Date.now,
): Promise<Rollback> {
  const name = request.model_name;
  const deletedRuns: string[] = [];
  let experiment: ExperimentJson | undefined;
  try {
    experiment = (
      await client.get<{ experiment: ExperimentJson }>('experiments/get-by-name', { experiment_name: name })
    ).experiment;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (experiment) {
    const { runs = [] } = await client.post<{ runs?: RunJson[] }>('runs/search', {
      experiment_ids: [experiment.experiment_id],
      filter: `tags.\`${EXECUTION_TAG}\` = '${request.execution}'`,
      max_results: 100,
    });
    for (const run of runs) {
      const versions = await modelVersions(client, `name = '${name}' and run_id = '${run.info.run_id}'`);
      if (versions.length > 0) return { rolledBack: false, runs: [] };
    }
    for (const run of runs) {
      // FINISHED too: its metrics were logged but the registration it belongs to failed, and
      // MLflow's experiment restore (the next attempt's) brings deleted runs back with it.
      if (run.info.status !== 'FAILED' && run.info.status !== 'KILLED') {
        await client.post('runs/update', { run_id: run.info.run_id, status: 'FAILED', end_time: now() });
      }
      await client.post('runs/delete', { run_id: run.info.run_id });
      deletedRuns.push(run.info.run_id);
    }
  }
  let deletedExperiment: string | undefined;
  if (
    experiment &&
    experiment.lifecycle_stage !== 'deleted' &&
    experiment.tags?.some((t) => t.key === EXECUTION_TAG)
  ) {
    const { runs = [] } = await client.post<{ runs?: RunJson[] }>('runs/search', {
      experiment_ids: [experiment.experiment_id],
      max_results: 1,
    });
    if (runs.length === 0) {
      await client.post('experiments/delete', { experiment_id: experiment.experiment_id });
      deletedExperiment = experiment.experiment_id;
    }
  }
  let deletedModel: string | undefined;
  try {
    const { registered_model: model } = await client.get<{
      registered_model: { tags?: { key: string; value: string }[] };
    }>('registered-models/get', { name });
    const mine = model.tags?.some((t) => t.key === EXECUTION_TAG && t.value === request.execution);
    if (mine && (await modelVersions(client, `name = '${name}'`)).length === 0) {
      await client.delete('registered-models/delete', { name });
      deletedModel = name;
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return {
    rolledBack: true,
    runs: deletedRuns,
    ...(deletedExperiment ? { experiment: deletedExperiment } : {}),
    ...(deletedModel ? { registeredModel: deletedModel } : {}),
  };
}

async function modelVersions(client: MlflowClient, filter: string): Promise<ModelVersionJson[]> {
  const { model_versions = [] } = await client.get<{ model_versions?: ModelVersionJson[] }>(
    'model-versions/search',
    { filter },
  );
  return model_versions;
}

/** The model currently serving: the `champion` alias, else the latest `Production` version. */
export interface ProductionModel {
  readonly version: string;
  readonly source?: string;
  readonly run_id?: string;
  /** Holdout metrics logged by the run that produced it (by {@link metricKeys}). */
  readonly logged: Partial<Record<keyof typeof metricKeys, number>>;
}

export async function productionModel(client: MlflowClient, name: string): Promise<ProductionModel | null> {
  let version: ModelVersionJson | undefined;
  try {
    version = (
      await client.get<{ model_version: ModelVersionJson }>('registered-models/alias', {
        name,
        alias: 'champion',
      })
    ).model_version;
  } catch (err) {
    // No such model (404), or a model without a champion yet (MLflow's 400): look for Production.
    if (!isNotFound(err) && !isAliasNotFound(err)) throw err;
  }
  if (!version) {
    try {
      const latest = await client.post<{ model_versions?: ModelVersionJson[] }>(
        'registered-models/get-latest-versions',
        {
          name,
          stages: ['Production'],
        },
      );
      version = latest.model_versions?.[0];
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  if (!version) return null;
  const logged: Partial<Record<keyof typeof metricKeys, number>> = {};
  if (version.run_id) {
    try {
      const { run } = await client.get<{ run: { data?: { metrics?: { key: string; value: number }[] } } }>(
        'runs/get',
        {
          run_id: version.run_id,
        },
      );
      for (const [m, key] of Object.entries(metricKeys)) {
        const metric = run.data?.metrics?.find((x) => x.key === key);
        if (metric) logged[m as keyof typeof metricKeys] = metric.value;
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return {
    version: String(version.version),
    ...(version.source ? { source: version.source } : {}),
    ...(version.run_id ? { run_id: version.run_id } : {}),
    logged,
  };
}

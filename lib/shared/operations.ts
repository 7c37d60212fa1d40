/**
 * The names that tie operations together: the metrics the drift, model-quality and serving code
 * publish, the events the drift machine emits and the registry tags that name a version's baseline
 * and artifact digest. Producers (state machines, the model server) and consumers (alarms,
 * dashboards, the retraining rule, the console, the release machine) import them from here, so a
 * renamed metric cannot silently leave an alarm watching nothing. Plain data: no CDK, no SDK.
 */

/** CloudWatch namespaces. Metrics are published as Embedded Metric Format log lines or `PutMetricData`. */
export const METRIC_NAMESPACES = {
  drift: 'MlopsKit/Drift',
  quality: 'MlopsKit/ModelQuality',
  serving: 'MlopsKit/Serving',
} as const;

/**
 * Drift metrics. Dataset-level ones carry the dimension `Model`; per-feature ones `Model` and
 * `Feature` (the prediction is the feature named {@link PREDICTION_FEATURE}).
 */
export const DRIFT_METRICS = {
  /** 1 when dataset drift was found in the window, else 0 (dims: Model). */
  datasetDrift: 'DatasetDrift',
  /** Share of drifted features, 0..1 (dims: Model). */
  driftShare: 'DriftShare',
  /** 1 when the model's output drifted (dims: Model). */
  predictionDrift: 'PredictionDrift',
  /** The test's statistic for one feature (dims: Model, Feature). */
  featureScore: 'FeatureDriftScore',
  /** 1 when one feature drifted (dims: Model, Feature). */
  featureDrifted: 'FeatureDrifted',
  /** Rows in the current window (dims: Model). */
  windowRows: 'WindowRows',
} as const;

/** The column name drift reports use for the model's output. */
export const PREDICTION_FEATURE = 'prediction';

/** Model-quality metrics, per window (dims: Model, ModelVersion; and Model alone). */
export const QUALITY_METRICS = {
  rmse: 'RMSE',
  mae: 'MAE',
  r2: 'R2',
  /** Predictions joined with a label in the window. */
  labeled: 'LabeledPredictions',
} as const;

/** Per-model serving metrics on AWS (dims: Model, ModelVersion). */
export const SERVING_METRICS = {
  requests: 'Requests',
  errors: 'Errors',
  latencyP99: 'LatencyP99',
} as const;

/** The event the drift machine puts on the platform's event bus when dataset drift is found. */
export const DRIFT_EVENT = {
  source: 'mlops-kit.drift',
  detailType: 'DriftDetected',
} as const;

/** Its detail. */
export interface DriftDetectedDetail {
  readonly environment: string;
  readonly model: string;
  /** The version whose baseline was the reference. */
  readonly modelVersion: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly driftShare: number;
  readonly driftedFeatures: readonly string[];
  /** s3:// URI of the JSON report. */
  readonly reportUri: string;
  /** s3:// URI of the HTML report. */
  readonly htmlReportUri: string;
}

/** The event a model-quality check puts on the bus when a metric crosses its threshold. */
export const QUALITY_EVENT = {
  source: 'mlops-kit.quality',
  detailType: 'ModelQualityBelowThreshold',
} as const;

/** Model-version tags the kit writes at registration (MLflow tags, so every client sees them). */
export const VERSION_TAGS = {
  /** s3:// URI of the version's training baseline (`baseline.json`, under `baselines/` on its model's path). */
  baselineUri: 'mlops.baseline_uri',
  /** Hex SHA-256 of the version's `model.tar.gz` as registered. */
  artifactSha256: 'mlops.artifact_sha256',
  /** The S3 object version of that `model.tar.gz`: the model server reads exactly it. */
  artifactVersionId: 'mlops.artifact_version_id',
  /** Lineage of a released version. */
  sourceEnvironment: 'mlops.source_environment',
  sourceVersion: 'mlops.source_version',
  sourceRunId: 'mlops.source_run_id',
  dataVersion: 'mlops.data_version',
  /** s3:// URI of the training run's `data-version.json` (every input object, its version and ETag). */
  dataVersionUri: 'mlops.data_version_uri',
  /** Hex SHA-256 of that object's bytes. */
  dataVersionSha256: 'mlops.data_version_sha256',
} as const;

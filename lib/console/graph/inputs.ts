/**
 * The inputs the README documents for each pipeline ("Pipeline inputs"), to prefill the start
 * form: picked by the kind of machine its name carries. Batch inference's input names a model
 * and buckets of this platform: they are looked up through the public APIs (the registry's
 * Production version, S3's bucket list) so the prefilled input runs as it is.
 */
import { config } from '../api/config';
import { requestText } from '../api/http';
import { mlflow } from '../api/mlflow';

export interface DocumentedInput {
  /** The form's starting text. */
  readonly input: unknown;
  /** One line on the fields the machine reads. */
  readonly fields: string;
  /** The input with this platform's names filled in; rejects when they cannot be found. */
  readonly resolve?: () => Promise<unknown>;
}

const TRAINING: DocumentedInput = {
  input: {
    dataset: 'winequality_red_raw',
    target: 'quality',
    model_name: 'wine-quality',
    hyperparameters: { alpha: 0.1, l1_ratio: 0.5 },
    thresholds: { max_rmse: 0.8 },
  },
  fields:
    '{dataset, target, model_name?, hyperparameters?: {alpha, l1_ratio, max_iter, tol}, thresholds?: {max_rmse, max_mae, min_r2}, min_rows?, holdout_every?, ranges?, instance_type?, instance_count?, volume_size_gb?}; or {feature_service, labels, timestamp_column?, target, …} in place of dataset',
};

const BY_KIND: readonly (readonly [RegExp, DocumentedInput])[] = [
  [/training/i, TRAINING],
  [
    /materiali[sz]/i,
    { input: {}, fields: '{start?, end?, featureView?} (ISO timestamps; defaults to each view’s TTL window ending now)' },
  ],
  [
    /batch/i,
    {
      input: { model: { uri: 's3://<artifacts bucket>/…/model.tar.gz' }, input: { table: 'wine_features' }, output: 's3://<curated bucket>/predictions/' },
      fields: '{model: {uri}, input: {table} | {prefix}, output, engine?} → Parquet under output (engine auto | sql | lambda)',
      resolve: batchInput,
    },
  ],
];

/** The documented input for a machine, or an empty object with no hint. */
export function documentedInput(machineName: string): DocumentedInput {
  return BY_KIND.find(([re]) => re.test(machineName))?.[1] ?? { input: {}, fields: '' };
}

/** The served model (a Production version's artifact) over the raw wine table, into the curated bucket's `predictions/`. */
async function batchInput(): Promise<unknown> {
  const models = await mlflow.registeredModels();
  const production = models.flatMap((m) => m.latest_versions ?? []).find((v) => v.current_stage === 'Production' && v.source);
  const buckets = [...(await requestText(`${config().s3Endpoint}/`, { method: 'GET' }, 's3')).matchAll(/<Name>([^<]+)<\/Name>/g)].map((m) => m[1]!);
  const curated = buckets.find((b) => /curated/.test(b));
  if (!production?.source || !curated) throw new Error('no Production model version or curated bucket yet');
  return { model: { uri: production.source }, input: { table: 'winequality_red_raw' }, output: `s3://${curated}/predictions/console/` };
}

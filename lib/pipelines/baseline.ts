/**
 * "Write baseline" of the training pipeline: the reference every drift run of the version compares
 * with. The per-feature value counts of the training rows come from one Athena query (see
 * {@link valueCountsQuery}); the prediction reference is the candidate's output on the holdout
 * split (the rows "Evaluate model" scored). The profile is built by the drift core and written once
 * as `baseline.json` under `baselines/`, on the model's path (see ./artifact-layout.ts); "Register
 * model" names it in the `mlops.baseline_uri` tag.
 *
 * @example
 * const { baseline_uri } = await writeBaseline({ model_name: 'wine-quality', model_uri, holdout_uri, counts_uri, features }, { objects });
 */
import { type Baseline, buildBaseline, type ValueCounts } from '../drift';
import { readModelFromArchive } from '../model/archive';
import { predictMatrix } from '../trainer/metrics';
import { parseS3Uri } from './catalog';
import { ARTIFACT_PREFIXES, baselineKeyFor } from './artifact-layout';
import { ArtifactExistsError, DataValidationError, PipelineInputError } from './errors';
import type { ObjectStore } from './objects';
import { listParts, numericBlocks } from './parquet-parts';
import { countValues, parseValueCounts, rowsOf } from './value-counts';

export interface BaselineRequest {
  readonly model_name: string;
  /** `s3://…/models/…/model.tar.gz`: the baseline is written on its path under `baselines/`. */
  readonly model_uri: string;
  readonly holdout_uri: string;
  /** The CSV result of the training rows' value-counts query. */
  readonly counts_uri: string;
  /** The query's columns, in order. */
  readonly features: readonly string[];
}

export interface BaselineWritten {
  readonly baseline_uri: string;
  readonly rows: number;
  readonly features: number;
  readonly prediction_rows: number;
}

const text = async (objects: ObjectStore, uri: string, what: string) => {
  const { bucket, key } = parseS3Uri(uri, what);
  return Buffer.from((await objects.get(bucket, key)).body).toString('utf8');
};

/** Columns of one block side by side, column-major (the trainer's matrix layout). */
function concat(columns: readonly Float64Array[], rows: number): Float64Array {
  const out = new Float64Array(columns.length * rows);
  columns.forEach((c, j) => out.set(c, j * rows));
  return out;
}

/** Each value as often as it was counted: what `countValues` takes, without a list of every prediction. */
function* expand(counts: ReadonlyMap<number, number>): Generator<number> {
  for (const [v, n] of counts) for (let i = 0; i < n; i++) yield v;
}

/** `s3://b/models/m/e/job/output/model.tar.gz` → `s3://b/baselines/m/e/job/output/baseline.json`. */
export function baselineUriFor(modelUri: string): string {
  const { bucket, key } = parseS3Uri(modelUri, 'model_uri');
  const baseline = baselineKeyFor(key);
  if (baseline === undefined) {
    throw new PipelineInputError(
      `model_uri must name a model under ${ARTIFACT_PREFIXES.models} (where training jobs write), but ${modelUri} was provided`,
    );
  }
  return `s3://${bucket}/${baseline}`;
}

export async function writeBaseline(request: BaselineRequest, deps: { readonly objects: ObjectStore; readonly now?: () => Date }): Promise<BaselineWritten> {
  const counts = parseValueCounts(await text(deps.objects, request.counts_uri, 'counts_uri'), request.features);
  const columns: Record<string, ValueCounts> = {};
  const nulls: Record<string, number> = {};
  let rows = 0;
  for (const [name, c] of counts) {
    columns[name] = { values: c.values, counts: c.counts };
    nulls[name] = c.missing;
    rows = Math.max(rows, rowsOf(c));
  }

  const { bucket, key } = parseS3Uri(request.model_uri, 'model_uri');
  const model = readModelFromArchive((await deps.objects.get(bucket, key)).body, request.model_uri);
  // The holdout's Parquet parts a row group at a time; the predictions' exact value counts are the
  // reference, so what is kept grows with the distinct predictions (8 bytes a row at most).
  const parts = await listParts(deps.objects, request.holdout_uri, 'the holdout split');
  const predictionCounts = new Map<number, number>();
  let predicted = 0;
  for await (const block of numericBlocks(deps.objects, parts, model.features)) {
    const missing = model.features.filter((_, j) => block.values[j] === undefined);
    if (missing.length > 0) {
      throw new DataValidationError(
        `the holdout split cannot be predicted for the baseline: ${block.source} has no column ${missing.map((c) => `"${c}"`).join(', ')}`,
      );
    }
    const X = { rows: block.rows, cols: model.features.length, data: concat(block.values as Float64Array[], block.rows) };
    for (const p of predictMatrix(X, model.coefficients, model.intercept)) predictionCounts.set(p, (predictionCounts.get(p) ?? 0) + 1);
    predicted += block.rows;
  }
  const prediction = countValues(expand(predictionCounts));

  const baseline = buildBaseline({
    model: request.model_name,
    columns,
    nulls,
    prediction: { values: prediction.values, counts: prediction.counts },
    createdAt: (deps.now ?? (() => new Date()))().toISOString(),
  });
  const uri = baselineUriFor(request.model_uri);
  const target = parseS3Uri(uri, 'the baseline');
  try {
    await deps.objects.putOnce(target.bucket, target.key, `${JSON.stringify(baseline)}\n`, 'application/json');
  } catch (err) {
    // A retried step (Lambda retry, a redriven execution) computes the same baseline at a later
    // time: the object it finds is its own when everything but `createdAt` is equal. Anything else
    // is another baseline, and stays.
    if (!(err instanceof ArtifactExistsError) || !(await sameBaselineExists(deps.objects, target, baseline))) throw err;
  }
  return { baseline_uri: uri, rows, features: request.features.length, prediction_rows: predicted };
}

async function sameBaselineExists(
  objects: ObjectStore,
  at: { readonly bucket: string; readonly key: string },
  written: Baseline,
): Promise<boolean> {
  let found: unknown;
  try {
    found = JSON.parse(Buffer.from((await objects.get(at.bucket, at.key)).body).toString('utf8'));
  } catch {
    return false;
  }
  if (typeof found !== 'object' || found === null || Array.isArray(found)) return false;
  const { createdAt: _found, ...foundRest } = found as Record<string, unknown>;
  const { createdAt: _written, ...writtenRest } = written as unknown as Record<string, unknown>;
  return JSON.stringify(foundRest) === JSON.stringify(writtenRest);
}

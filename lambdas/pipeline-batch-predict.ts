/**
 * Batch inference, one Map iteration: predicts every row of one input object and stages the
 * predictions as JSON Lines (lib/pipelines/batch.ts).
 *
 * Event: `{ model_uri, item: { bucket, key, index }, staging_prefix }`; returns `{ source, rows, staged }`.
 *
 * Environment:
 *   RAW_BUCKET, ARTIFACTS_BUCKET  inputs and models (read)
 *   CURATED_BUCKET                inputs (read) and the staging prefix (write)
 */
import { type ModelCache, type PredictRequest, predictObject } from '../lib/pipelines/batch';
import { s3Objects } from '../lib/pipelines/objects';
import { pipelineEnv, required, s3Client } from '../lib/pipelines/runtime';

pipelineEnv({ RAW_BUCKET: required, CURATED_BUCKET: required, ARTIFACTS_BUCKET: required }, process.env);
const objects = s3Objects(s3Client(process.env));
// Kept across warm invocations: a Map runs many iterations with the same model.
const cache: ModelCache = new Map();

export const handler = (event: PredictRequest) => predictObject(event, { objects, cache });

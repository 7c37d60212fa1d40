/**
 * Batch inference, one child execution of the Distributed Map: predicts every row of each object
 * of its batch, streaming them, and stages the predictions as JSON Lines (lib/pipelines/batch.ts).
 *
 * Event: `{ model_uri, staging_prefix, items: [{ bucket, key, index }, …] }`; returns
 * `{ objects: [{ source, rows }], rows, skipped }`.
 *
 * Environment:
 *   RAW_BUCKET, ARTIFACTS_BUCKET  inputs and models (read)
 *   CURATED_BUCKET                inputs (read) and the staging prefix (write)
 */
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { type ModelCache, predictBatch } from '../lib/pipelines/batch';
import { parseStepEvent, predictEventSchema } from '../lib/pipelines/step-events';

const env = handlerEnv({ RAW_BUCKET: required, CURATED_BUCKET: required, ARTIFACTS_BUCKET: required });
const objects = s3Objects(s3Client(env));
// Kept across warm invocations: a Map Run starts many children with the same model.
const cache: ModelCache = new Map();

export const handler = async (event: unknown) =>
  predictBatch(parseStepEvent(predictEventSchema, event, 'Predict objects'), { objects, cache });

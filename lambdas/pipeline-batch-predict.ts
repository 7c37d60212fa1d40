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
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { type ModelCache, predictObject } from '../lib/pipelines/batch';
import { parseStepEvent, predictEventSchema } from '../lib/pipelines/step-events';

const env = handlerEnv({ RAW_BUCKET: required, CURATED_BUCKET: required, ARTIFACTS_BUCKET: required });
const objects = s3Objects(s3Client(env));
// Kept across warm invocations: a Map runs many iterations with the same model.
const cache: ModelCache = new Map();

export const handler = async (event: unknown) =>
  predictObject(parseStepEvent(predictEventSchema, event, 'Predict object'), { objects, cache });

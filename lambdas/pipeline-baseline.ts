/**
 * Training pipeline, "Write baseline": builds the drift baseline of the candidate from the training
 * rows' value counts (an Athena result) and its predictions on the holdout split, and writes
 * `baseline.json` next to its `model.tar.gz` (lib/pipelines/baseline.ts).
 *
 * Event: `{ model_name, model_uri, holdout_uri, counts_uri, features }`; returns `{ baseline_uri, rows, features, prediction_rows }`.
 *
 * Environment:
 *   ATHENA_RESULTS_BUCKET  where the value-counts result is (read)
 *   ARTIFACTS_BUCKET       the model, the holdout split (read) and the baseline (write)
 */
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { writeBaseline } from '../lib/pipelines/baseline';
import { parseS3Uri } from '../lib/pipelines/catalog';
import { PipelineInputError } from '../lib/pipelines/errors';
import { baselineEventSchema, parseStepEvent } from '../lib/pipelines/step-events';

const env = handlerEnv({ ATHENA_RESULTS_BUCKET: required, ARTIFACTS_BUCKET: required });
const objects = s3Objects(s3Client(env));

export const handler = async (input: unknown) => {
  const event = parseStepEvent(baselineEventSchema, input, 'Write baseline');
  // The role could not do otherwise; checking here turns an AccessDenied into a sentence.
  if (parseS3Uri(event.counts_uri).bucket !== env.ATHENA_RESULTS_BUCKET) {
    throw new PipelineInputError(`counts_uri ${event.counts_uri} is not in the Athena results bucket`);
  }
  if (parseS3Uri(event.model_uri).bucket !== env.ARTIFACTS_BUCKET) {
    throw new PipelineInputError(`model_uri ${event.model_uri} is not in the artifacts bucket`);
  }
  return writeBaseline(event, { objects });
};

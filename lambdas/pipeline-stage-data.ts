/**
 * Training pipeline, "Stage training data": copies the train and holdout query results into the
 * run's training channels (see lib/pipelines/stage-data.ts for why).
 *
 * Event: `{ train: { result, object }, holdout: { result, object } }` (s3:// URIs).
 *
 * Environment:
 *   ATHENA_RESULTS_BUCKET  where query results are (read)
 *   ARTIFACTS_BUCKET       where the channels are (write)
 */
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { parseS3Uri } from '../lib/pipelines/catalog';
import { PipelineInputError } from '../lib/pipelines/errors';
import { stageTrainingData } from '../lib/pipelines/stage-data';
import { parseStepEvent, stageEventSchema } from '../lib/pipelines/step-events';

const env = handlerEnv({ ATHENA_RESULTS_BUCKET: required, ARTIFACTS_BUCKET: required });
const objects = s3Objects(s3Client(env));

export const handler = async (input: unknown) => {
  const event = parseStepEvent(stageEventSchema, input, 'Stage training data');
  for (const split of [event.train, event.holdout]) {
    // The role could not do otherwise; checking here turns an AccessDenied into a sentence.
    if (parseS3Uri(split.result).bucket !== env.ATHENA_RESULTS_BUCKET) {
      throw new PipelineInputError(`query result ${split.result} is not in the Athena results bucket`);
    }
    if (parseS3Uri(split.object).bucket !== env.ARTIFACTS_BUCKET) {
      throw new PipelineInputError(`staged object ${split.object} is not in the artifacts bucket`);
    }
  }
  return stageTrainingData(event, objects);
};

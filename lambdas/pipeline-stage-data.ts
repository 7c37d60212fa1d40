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
import { PipelineInputError } from '../lib/pipelines/errors';
import { parseS3Uri } from '../lib/pipelines/catalog';
import { s3Objects } from '../lib/pipelines/objects';
import { pipelineEnv, required, s3Client } from '../lib/pipelines/runtime';
import { type StageRequest, stageTrainingData } from '../lib/pipelines/stage-data';

const env = pipelineEnv({ ATHENA_RESULTS_BUCKET: required, ARTIFACTS_BUCKET: required }, process.env);
const objects = s3Objects(s3Client(process.env));

export const handler = async (event: StageRequest) => {
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

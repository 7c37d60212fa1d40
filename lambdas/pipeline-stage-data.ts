/**
 * Training pipeline, "Stage training data": copies the Parquet parts of the train and holdout
 * UNLOADs into the run's training channels (see lib/pipelines/stage-data.ts for why).
 *
 * Event: `{ train: { unloaded, channel }, holdout: { unloaded, channel }, check? }` (s3:// prefixes).
 *
 * Environment:
 *   SPLITS_BUCKET     where the UNLOADs wrote the parts (the curated zone's splits/: read, list)
 *   ARTIFACTS_BUCKET  where the channels are (write)
 */
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { parseS3Uri } from '../lib/pipelines/catalog';
import { PipelineInputError } from '../lib/pipelines/errors';
import { stageTrainingData } from '../lib/pipelines/stage-data';
import { parseStepEvent, stageEventSchema } from '../lib/pipelines/step-events';

const env = handlerEnv({ SPLITS_BUCKET: required, ARTIFACTS_BUCKET: required });
const objects = s3Objects(s3Client(env));

export const handler = async (input: unknown) => {
  const event = parseStepEvent(stageEventSchema, input, 'Stage training data');
  for (const split of [event.train, event.holdout]) {
    // The role could not do otherwise; checking here turns an AccessDenied into a sentence.
    if (parseS3Uri(split.unloaded).bucket !== env.SPLITS_BUCKET) {
      throw new PipelineInputError(`split ${split.unloaded} is not in the splits bucket`);
    }
    if (parseS3Uri(split.channel).bucket !== env.ARTIFACTS_BUCKET) {
      throw new PipelineInputError(`channel ${split.channel} is not in the artifacts bucket`);
    }
  }
  return stageTrainingData(event, objects);
};

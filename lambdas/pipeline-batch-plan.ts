/**
 * Batch inference, "Plan batch": validates the input, checks the model loads, resolves the input
 * prefix the Distributed Map lists and plans the staging and output locations (lib/pipelines/batch.ts).
 *
 * Event: `{ input: <execution input>, execution: <execution name> }`; returns the BatchPlan.
 *
 * Environment:
 *   LAKE_TABLES, LAKE_DATABASE   the lake catalog
 *   RAW_BUCKET, CURATED_BUCKET   inputs (read)
 *   OUTPUT_PREFIX                key prefix in CURATED_BUCKET outputs must be under (e.g. `predictions/`)
 *   ARTIFACTS_BUCKET             models (read)
 *   STAGING_TABLE, STAGING_LOCATION  the JSON staging table and its s3:// location
 */
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { lakeAccess, lakeEnvShape } from '../lib/adapters/lake';
import { planBatch } from '../lib/pipelines/batch';
import { parseStepEvent, planEventSchema } from '../lib/pipelines/step-events';

const env = handlerEnv({
  ...lakeEnvShape,
  RAW_BUCKET: required,
  CURATED_BUCKET: required,
  ARTIFACTS_BUCKET: required,
  STAGING_TABLE: required,
  STAGING_LOCATION: required,
  OUTPUT_PREFIX: required,
});
const deps = {
  ...lakeAccess(env, [env.RAW_BUCKET, env.CURATED_BUCKET, env.ARTIFACTS_BUCKET]),
  outputPrefixes: [`s3://${env.CURATED_BUCKET}/${env.OUTPUT_PREFIX}`],
  // Models may come from the artifacts bucket; inputs only from the lake's data zones.
  inputBuckets: [env.RAW_BUCKET, env.CURATED_BUCKET],
  stagingLocation: env.STAGING_LOCATION,
  stagingTable: env.STAGING_TABLE,
};

export const handler = async (event: unknown) =>
  planBatch(parseStepEvent(planEventSchema, event, 'Plan batch'), deps);

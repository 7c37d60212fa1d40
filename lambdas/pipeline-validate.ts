/**
 * Training pipeline, "Validate data": validates the execution input and the dataset, writes the data
 * profile and plans the run (see lib/pipelines/training-plan.ts).
 *
 * Event: `{ input: <execution input>, execution: <execution name> }`; returns the TrainingPlan.
 *
 * Environment:
 *   LAKE_TABLES        the lake's Glue tables as JSON (names, locations, columns)
 *   LAKE_DATABASE      the Glue database the queries name
 *   RAW_BUCKET         the raw zone, where datasets are read (read)
 *   ARTIFACTS_BUCKET   where the profile and data version are written (write)
 *   FEATURES_LOCATION  s3:// prefix the features step unloads to (named in SQL; the state machine writes it)
 *   FEATURE_STORE_LOCATION  s3:// prefix of the feature store's offline tables (list, read), for
 *                      inputs naming a feature service of the platform's repo (lib/features/wine.ts)
 *   TRAINING_LIMITS    JSON: the instance types, count and volume a run may ask for (pipelines.trainingLimits)
 *   ATHENA_WORKGROUP   the lake workgroup the validation aggregate runs in (its results: read)
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { athenaOneRow } from '../lib/adapters/athena/one-row';
import { athenaClient } from '../lib/adapters/clients';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { lakeAccess, lakeEnvShape } from '../lib/adapters/lake';
import { wineRepo } from '../lib/features/wine';
import { trainingLimitsVariable } from '../lib/pipelines/input';
import { parseStepEvent, planEventSchema } from '../lib/pipelines/step-events';
import { planTrainingRun } from '../lib/pipelines/training-plan';

const env = handlerEnv({
  ...lakeEnvShape,
  RAW_BUCKET: required,
  ARTIFACTS_BUCKET: required,
  FEATURES_LOCATION: required,
  FEATURE_STORE_LOCATION: required,
  TRAINING_LIMITS: trainingLimitsVariable,
  ATHENA_WORKGROUP: required,
});
const deps = {
  ...lakeAccess(env, [env.RAW_BUCKET]),
  artifactsBucket: env.ARTIFACTS_BUCKET,
  featuresLocation: env.FEATURES_LOCATION,
  featureStore: { repo: wineRepo, location: env.FEATURE_STORE_LOCATION },
  trainingLimits: env.TRAINING_LIMITS,
  aggregate: athenaOneRow(athenaClient(env), { workGroup: env.ATHENA_WORKGROUP, database: env.LAKE_DATABASE }),
};
const logger = new Logger({ serviceName: 'training-pipeline' });

export const handler = async (event: unknown) => {
  const { plan, profile } = await planTrainingRun(parseStepEvent(planEventSchema, event, 'Validate data'), deps);
  logger.info('dataset validated', {
    table: profile.table,
    ...(plan.dataset.feature_service ? { feature_service: plan.dataset.feature_service } : {}),
    rows: profile.rows,
    objects: profile.objects.length,
  });
  return plan;
};

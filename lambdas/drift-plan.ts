/**
 * Drift machine, "Resolve window": validates the input, resolves the model version and its
 * baseline through the registry, and plans the window's Athena query (lib/pipelines/drift-plan.ts).
 *
 * Event: `{ input: { model, version?, stage?, start?, end? }, execution }`; returns the plan.
 *
 * Environment:
 *   REGISTRY_URL       the MLflow registry's base URL
 *   REGISTRY_AUTH      iam (SigV4 with the function's role) or none
 *   ARTIFACTS_BUCKET   where baselines are (read)
 *   LAKE_DATABASE      the Glue database of the request log table
 *   REQUEST_LOG_TABLE  the request log's Glue table
 *   REPORTS_BUCKET     the curated bucket the report step writes to (named in the plan)
 *   MAX_WINDOW_DAYS    the longest window one execution aggregates
 */
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { registryAuth, registryClient } from '../lib/adapters/sigv4-http/mlflow-client';
import { parseBaseline } from '../lib/drift';
import { planDrift } from '../lib/pipelines/drift-plan';
import { parseStepEvent, planEventSchema } from '../lib/pipelines/step-events';
import { deploymentNameFor } from '../lib/serving-infra/seldon';

const env = handlerEnv({
  REGISTRY_URL: required,
  REGISTRY_AUTH: registryAuth,
  ARTIFACTS_BUCKET: required,
  LAKE_DATABASE: required,
  REQUEST_LOG_TABLE: required,
  REPORTS_BUCKET: required,
  MAX_WINDOW_DAYS: required,
});
const registry = registryClient(env)!;
const objects = s3Objects(s3Client(env));

export const handler = async (input: unknown) => {
  const event = parseStepEvent(planEventSchema, input, 'Resolve window');
  return planDrift(
    event,
    {
      registry,
      objects,
      log: { database: env.LAKE_DATABASE, table: env.REQUEST_LOG_TABLE },
      reportsBucket: env.REPORTS_BUCKET,
      deploymentOf: deploymentNameFor,
      maxWindowDays: Number(env.MAX_WINDOW_DAYS),
    },
    (json) => parseBaseline(json).features.map((f) => f.name),
  );
};

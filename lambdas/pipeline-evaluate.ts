/**
 * Training pipeline, "Evaluate model": scores the candidate and the production model on the
 * holdout split and decides whether the candidate may be registered (lib/pipelines/evaluate.ts).
 *
 * Event: `{ model_uri, holdout_uri, thresholds, model_name }`; returns `{ metrics, production, verdict }`.
 *
 * Environment:
 *   ARTIFACTS_BUCKET  models and the holdout split (read)
 *   REGISTRY_URL      the MLflow registry's base URL (optional: without it nothing is compared)
 *   REGISTRY_AUTH     iam (SigV4) or none
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, optional, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { registryAuth, registryClient } from '../lib/adapters/sigv4-http/mlflow-client';
import { evaluateCandidate } from '../lib/pipelines/evaluate';
import { productionModel } from '../lib/pipelines/register';
import { evaluateEventSchema, parseStepEvent } from '../lib/pipelines/step-events';

const env = handlerEnv({ ARTIFACTS_BUCKET: required, REGISTRY_URL: optional, REGISTRY_AUTH: registryAuth });
const objects = s3Objects(s3Client(env));
const registry = registryClient(env);
const logger = new Logger({ serviceName: 'training-pipeline' });

export const handler = async (input: unknown) => {
  const event = parseStepEvent(evaluateEventSchema, input, 'Evaluate model');
  const result = await evaluateCandidate(event, {
    objects,
    ...(registry ? { production: () => productionModel(registry, event.model_name) } : {}),
  });
  logger.info('model evaluated', { verdict: result.verdict.summary, production: result.production });
  return result;
};

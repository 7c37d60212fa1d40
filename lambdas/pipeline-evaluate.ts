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
import { evaluateCandidate } from '../lib/pipelines/evaluate';
import type { Thresholds } from '../lib/pipelines/input';
import { s3Objects } from '../lib/pipelines/objects';
import { productionModel } from '../lib/pipelines/register';
import { pipelineEnv, registryClient, required, s3Client } from '../lib/pipelines/runtime';

pipelineEnv({ ARTIFACTS_BUCKET: required }, process.env);
const objects = s3Objects(s3Client(process.env));
const registry = registryClient(process.env);
const logger = new Logger({ serviceName: 'training-pipeline' });

export const handler = async (event: {
  model_uri: string;
  holdout_uri: string;
  thresholds: Thresholds;
  model_name: string;
}) => {
  const result = await evaluateCandidate(event, {
    objects,
    ...(registry ? { production: () => productionModel(registry, event.model_name) } : {}),
  });
  logger.info('model evaluated', { verdict: result.verdict.summary, production: result.production });
  return result;
};

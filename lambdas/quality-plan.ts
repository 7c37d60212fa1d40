/**
 * Model quality, "Plan quality": validates `{ model, start?, end? }` (the window defaults to the
 * last WINDOW_HOURS), checks the registry knows the model, and writes the scoring query
 * (lib/quality). A bad input fails the execution with `QualityInputError` before anything runs.
 *
 * Environment: LAKE_DATABASE, LOG_TABLE, LABELS_TABLE, WINDOW_HOURS; REGISTRY_URL, REGISTRY_AUTH (optional).
 */
import { handlerEnv, optional, required } from '../lib/adapters/handler-env';
import { registryAuth, registryClient } from '../lib/adapters/sigv4-http/mlflow-client';
import { isNotFound } from '../lib/pipelines/mlflow-client';
import { parseQualityInput, QualityInputError, qualitySql } from '../lib/quality';
import { z } from 'zod';

const env = handlerEnv({
  LAKE_DATABASE: required,
  LOG_TABLE: required,
  LABELS_TABLE: required,
  WINDOW_HOURS: z.coerce.number().int().positive(),
  REGISTRY_URL: optional,
  REGISTRY_AUTH: registryAuth,
});
const registry = env.REGISTRY_URL === undefined ? undefined : registryClient(env);

export const handler = async (event: { input?: unknown }) => {
  const input = parseQualityInput(event.input, new Date(), env.WINDOW_HOURS);
  if (registry !== undefined) {
    try {
      await registry.get('registered-models/get', { name: input.model });
    } catch (err) {
      if (isNotFound(err)) {
        throw new QualityInputError(`model must be a registered model, but ${JSON.stringify(input.model)} is not in the registry`);
      }
      throw err;
    }
  }
  return {
    ...input,
    query: qualitySql({ database: env.LAKE_DATABASE, logTable: env.LOG_TABLE, labelsTable: env.LABELS_TABLE, input }),
  };
};

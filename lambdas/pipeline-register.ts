/**
 * Training pipeline, "Register model": records the run and registers the model version in the
 * MLflow registry, idempotently per execution (lib/pipelines/register.ts).
 *
 * Event: RegisterRequest; returns `{ model_name, version, run_id, experiment_id }`.
 * Event `{ rollback: true, model_name, execution }` ("Roll back registration", after a failed
 * registration): removes what that execution created without its version; returns what it removed.
 *
 * Environment:
 *   REGISTRY_URL   the MLflow registry's base URL
 *   REGISTRY_AUTH  iam (SigV4 with the function's role) or none
 */
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { registryAuth, registryClient } from '../lib/adapters/sigv4-http/mlflow-client';
import { type RegisterRequest, registerModel, rollbackRegistration } from '../lib/pipelines/register';
import { parseStepEvent, registerEventSchema } from '../lib/pipelines/step-events';

const registry = registryClient(handlerEnv({ REGISTRY_URL: required, REGISTRY_AUTH: registryAuth }))!;

export const handler = async (input: unknown) => {
  const event = parseStepEvent(registerEventSchema, input, 'Register model');
  return 'rollback' in event && event.rollback === true
    ? rollbackRegistration(registry, event)
    : registerModel(registry, event as RegisterRequest);
};

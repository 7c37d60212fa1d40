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
import { type RegisterRequest, registerModel, rollbackRegistration } from '../lib/pipelines/register';
import { pipelineEnv, registryClient, required } from '../lib/pipelines/runtime';

pipelineEnv({ REGISTRY_URL: required }, process.env);
const registry = registryClient(process.env)!;

type RollbackRequest = Pick<RegisterRequest, 'model_name' | 'execution'> & { readonly rollback: true };

export const handler = (event: RegisterRequest | RollbackRequest) =>
  'rollback' in event && event.rollback === true
    ? rollbackRegistration(registry, event)
    : registerModel(registry, event as RegisterRequest);

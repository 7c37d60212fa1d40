/**
 * Training pipeline, "Register model": records the run and registers the model version in the
 * MLflow registry, idempotently per execution (lib/pipelines/register.ts).
 *
 * Event: RegisterRequest; returns `{ model_name, version, run_id, experiment_id }`.
 *
 * Environment:
 *   REGISTRY_URL   the MLflow registry's base URL
 *   REGISTRY_AUTH  iam (SigV4 with the function's role) or none
 */
import { type RegisterRequest, registerModel } from '../lib/pipelines/register';
import { pipelineEnv, registryClient, required } from '../lib/pipelines/runtime';

pipelineEnv({ REGISTRY_URL: required }, process.env);
const registry = registryClient(process.env)!;

export const handler = (event: RegisterRequest) => registerModel(registry, event);

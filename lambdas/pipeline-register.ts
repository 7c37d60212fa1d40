/**
 * Training pipeline, "Register model": records the run and registers the model version in the
 * MLflow registry, idempotently per execution (lib/pipelines/register.ts), with the SHA-256 of its
 * `model.tar.gz` as the version tag `mlops.artifact_sha256` (streamed from S3, never held whole).
 *
 * Event: RegisterRequest; returns `{ model_name, version, run_id, experiment_id }`.
 * Event `{ rollback: true, model_name, execution }` ("Roll back registration", after a failed
 * registration): removes what that execution created without its version; returns what it removed.
 *
 * Environment:
 *   REGISTRY_URL      the MLflow registry's base URL
 *   REGISTRY_AUTH     iam (SigV4 with the function's role) or none
 *   ARTIFACTS_BUCKET  the artifacts zone the model URIs are in (read for the digest)
 */
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { sha256OfObject } from '../lib/adapters/s3/digest';
import { registryAuth, registryClient } from '../lib/adapters/sigv4-http/mlflow-client';
import { PipelineInputError } from '../lib/pipelines/errors';
import { type RegisterRequest, registerModel, rollbackRegistration } from '../lib/pipelines/register';
import { parseStepEvent, registerEventSchema } from '../lib/pipelines/step-events';
import { parseS3Uri } from '../lib/shared/s3-uri';

const env = handlerEnv({ REGISTRY_URL: required, REGISTRY_AUTH: registryAuth, ARTIFACTS_BUCKET: required });
const registry = registryClient(env)!;
const s3 = s3Client(env);

export const handler = async (input: unknown) => {
  const event = parseStepEvent(registerEventSchema, input, 'Register model');
  if ('rollback' in event && event.rollback === true) return rollbackRegistration(registry, event);
  const request = event as RegisterRequest;
  const artifact = parseS3Uri(request.model_uri);
  if (!artifact || artifact.bucket !== env.ARTIFACTS_BUCKET) {
    throw new PipelineInputError(
      `Register model: model_uri must be in the artifacts bucket s3://${env.ARTIFACTS_BUCKET}/, but ${request.model_uri} was provided`,
    );
  }
  const { sha256, versionId } = await sha256OfObject(s3, artifact.bucket, artifact.key);
  return registerModel(registry, {
    ...request,
    artifact_sha256: sha256,
    ...(versionId ? { artifact_version_id: versionId } : {}),
  });
};

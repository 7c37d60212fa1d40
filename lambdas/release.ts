/**
 * The release machine's steps (lib/release/release.ts), one function with an `action` per step:
 * `read` the source version, `copy` and verify its artifact, `register` it with lineage tags,
 * `promote` or `reject` it after the approval, `cleanup` after a failure.
 *
 * The source is named by the execution input: its registry's base URL, and either a role to assume
 * (AWS: the source environment's release-source role, which must be one of SOURCE_ROLE_ARNS) or
 * its S3 endpoint (a second local platform).
 *
 * Environment:
 *   REGISTRY_URL      this environment's MLflow registry
 *   REGISTRY_AUTH     iam (SigV4 with the function's role) or none
 *   ARTIFACTS_BUCKET  this environment's artifacts zone (releases/ is written)
 *   SOURCE_ROLE_ARNS  comma-separated roles the function may assume to read a source; empty: none
 */
import { S3Client } from '@aws-sdk/client-s3';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { z } from 'zod';
import { s3Client } from '../lib/adapters/clients';
import { handlerEnv, optional, required } from '../lib/adapters/handler-env';
import { releaseObjects } from '../lib/adapters/s3/release-objects';
import { HttpMlflowClient, registryAuth, registryClient, sigv4Signer } from '../lib/adapters/sigv4-http/mlflow-client';
import {
  cleanUpRelease,
  copyArtifacts,
  promoteRelease,
  readSourceVersion,
  registerRelease,
  rejectRelease,
  ReleaseError,
} from '../lib/release/release';
import { parseEvent } from '../lib/shared/events';

const env = handlerEnv({
  REGISTRY_URL: required,
  REGISTRY_AUTH: registryAuth,
  ARTIFACTS_BUCKET: required,
  SOURCE_ROLE_ARNS: optional,
});
const target = registryClient(env)!;
const targetS3 = s3Client(env);
const allowedRoles = (env.SOURCE_ROLE_ARNS ?? '').split(',').filter(Boolean);

const text = z.string().min(1);
const source = z.object({
  environment: text,
  registry_url: z.url(),
  s3_endpoint: z.url().optional(),
  role_arn: z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/.+$/).optional(),
  region: text.optional(),
});
const released = z.object({ model: text, version: text, run_id: text });
const eventSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('read'), model: text, version: text, source }),
  z.looseObject({ action: z.literal('copy'), source, execution: text, plan: z.looseObject({}) }),
  z.looseObject({ action: z.literal('register'), execution: text, plan: z.looseObject({}), copied: z.looseObject({}) }),
  z.object({ action: z.literal('promote'), released, approval: z.looseObject({}).optional() }),
  z.object({ action: z.literal('reject'), released, reason: z.string().optional() }),
  z.object({ action: z.literal('cleanup'), model: text, execution: text, plan: z.looseObject({}).nullish() }),
]);

type Source = z.infer<typeof source>;

/** The source's registry and S3 clients: the assumed role's credentials, or the local endpoint's. */
function sourceClients(s: Source, session: string) {
  if (s.role_arn && !allowedRoles.includes(s.role_arn)) {
    throw new ReleaseError(
      'ReleaseInputError',
      `source.role_arn must be one of this environment's release sources (${allowedRoles.join(', ') || 'none configured'}), but ${s.role_arn} was provided`,
    );
  }
  const region = s.region ?? env.AWS_REGION ?? 'us-east-1';
  const credentials = s.role_arn
    ? fromTemporaryCredentials({ params: { RoleArn: s.role_arn, RoleSessionName: `mlops-release-${session}`.slice(0, 64) } })
    : undefined;
  const registry = new HttpMlflowClient({
    baseUrl: s.registry_url,
    ...(credentials ? { signer: sigv4Signer({ region, credentials }) } : {}),
  });
  const s3 = new S3Client({
    region,
    ...(s.s3_endpoint ? { endpoint: s.s3_endpoint, forcePathStyle: true } : {}),
    ...(credentials ? { credentials } : {}),
  });
  return { registry, s3 };
}

const sessionName = (execution: string) => execution.replace(/[^\w+=,.@-]/g, '-');

export const handler = async (input: unknown) => {
  const event = parseEvent(eventSchema, input, 'Release', class extends ReleaseError {
    constructor(message: string) {
      super('ReleaseInputError', message);
    }
  });
  switch (event.action) {
    case 'read':
      return readSourceVersion(sourceClients(event.source, 'read').registry, target, {
        model: event.model,
        version: event.version,
        source_environment: event.source.environment,
      });
    case 'copy': {
      const { s3 } = sourceClients(event.source, sessionName(event.execution));
      return copyArtifacts(releaseObjects({ source: s3, target: targetS3, targetBucket: env.ARTIFACTS_BUCKET }), event.plan as never, event.execution);
    }
    case 'register':
      return registerRelease(target, { plan: event.plan as never, copied: event.copied as never, execution: event.execution });
    case 'promote':
      return promoteRelease(target, event.released, typeof event.approval?.['by'] === 'string' ? event.approval['by'] : undefined);
    case 'reject':
      return rejectRelease(target, event.released, event.reason ?? 'no reason given');
    case 'cleanup': {
      // Clean-up only touches this environment: the source is never read.
      const s3 = targetS3;
      const prefix = typeof event.plan?.['target_prefix'] === 'string' ? event.plan['target_prefix'] : undefined;
      return cleanUpRelease(target, releaseObjects({ source: s3, target: targetS3, targetBucket: env.ARTIFACTS_BUCKET }), {
        model: event.model,
        execution: event.execution,
        ...(prefix ? { target_prefix: prefix } : {}),
      });
    }
  }
};

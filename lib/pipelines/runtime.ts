/**
 * What every pipeline handler builds once at cold start: its environment, validated (a missing
 * variable fails the cold start with its name, not the first run), and its clients.
 *
 * @example
 * const env = pipelineEnv({ ARTIFACTS_BUCKET: bucket }, process.env);
 * const objects = s3Objects(s3Client(process.env));
 */
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { type LakeTable, parseLakeTables } from './catalog';
import { MlflowClient, sigv4Signer } from './mlflow-client';

type Env = Readonly<Record<string, string | undefined>>;

/** Validates the named variables; the schema shape keeps each handler's contract in one place. */
export function pipelineEnv<T extends z.ZodRawShape>(shape: T, env: Env): z.infer<z.ZodObject<T>> {
  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success) {
    const names = parsed.error.issues.map((i) => `${i.path.join('.')} (${i.message})`);
    throw new Error(`the function's environment is incomplete: ${names.join(', ')}`);
  }
  return parsed.data;
}

export const required = z.string().min(1);

/** An S3 client; the local environment points it at its S3 engine, which serves buckets by path. */
export function s3Client(env: Env): S3Client {
  const endpoint = env['AWS_ENDPOINT_URL_S3'];
  return new S3Client(endpoint ? { endpoint, forcePathStyle: true } : {});
}

export function lakeTables(env: Env): LakeTable[] {
  const json = env['LAKE_TABLES'];
  if (!json) throw new Error("the function's environment is incomplete: LAKE_TABLES is not set");
  return parseLakeTables(json);
}

/**
 * The registry client for `REGISTRY_URL`, signed with SigV4 when `REGISTRY_AUTH` is `iam`
 * (API Gateway with IAM auth) and unsigned when `none` (the local gateway); undefined when no
 * registry is configured.
 */
export function registryClient(env: Env): MlflowClient | undefined {
  const baseUrl = env['REGISTRY_URL'];
  if (!baseUrl) return undefined;
  const auth = env['REGISTRY_AUTH'] ?? 'iam';
  if (auth !== 'iam' && auth !== 'none') {
    throw new Error(`REGISTRY_AUTH must be iam or none, but ${JSON.stringify(auth)} was provided`);
  }
  const region = env['AWS_REGION'];
  if (auth === 'iam' && !region) throw new Error('REGISTRY_AUTH=iam needs AWS_REGION to sign requests');
  return new MlflowClient({
    baseUrl,
    ...(auth === 'iam' ? { signer: sigv4Signer({ region: region! }) } : {}),
  });
}

/**
 * How every handler reads its environment: once, at cold start, through one zod schema, so a
 * missing or malformed variable fails the cold start with its name rather than the first request;
 * the validated result is what the handler builds its clients from (it never re-reads
 * `process.env`). The SDK's region and endpoint variables are part of every schema, so the result
 * is an {@link AwsEnv} for `lib/adapters/clients.ts`.
 *
 * @example
 * const env = handlerEnv({ ARTIFACTS_BUCKET: required, REGISTRY_URL: optional });
 * const objects = s3Objects(s3Client(env));
 */
import { z } from 'zod';
import { describeIssue } from '../shared/events';
import type { AwsEnv } from './clients';

type Env = Readonly<Record<string, string | undefined>>;

/** A variable that must be set to a non-empty string. */
export const required = z.string().min(1);
/** A variable that may be unset. */
export const optional = z.string().min(1).optional();

const endpoint = z.string().url().optional();
const awsShape = {
  AWS_REGION: optional,
  AWS_DEFAULT_REGION: optional,
  AWS_ENDPOINT_URL: endpoint,
  AWS_ENDPOINT_URL_S3: endpoint,
  AWS_ENDPOINT_URL_DYNAMODB: endpoint,
  AWS_ENDPOINT_URL_ATHENA: endpoint,
  AWS_ENDPOINT_URL_EVENTBRIDGE: endpoint,
};

/**
 * Validates the handler's variables (and the SDK's); throws one sentence naming every bad one.
 * Empty variables count as unset, as a template that renders `""` means "not configured".
 */
export function handlerEnv<T extends z.ZodRawShape>(
  shape: T,
  env: Env = process.env,
): z.infer<z.ZodObject<T>> & AwsEnv {
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = z.object({ ...awsShape, ...shape }).safeParse(set);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return set[name] === undefined ? `${name} must be set` : describeIssue(issue, set);
    });
    throw new Error(`the function's environment is invalid: ${problems.join('; ')}`);
  }
  return parsed.data as z.infer<z.ZodObject<T>> & AwsEnv;
}

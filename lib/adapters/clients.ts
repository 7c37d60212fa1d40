/**
 * The one place AWS SDK clients are built, from a handler's validated environment (see
 * `handlerEnv`) or `process.env`. Endpoints follow the SDK's own variables
 * (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`), which is how the local environment points
 * the same code at its engines.
 *
 * S3 needs one more thing than the SDK does by itself: with an IP endpoint (`http://127.0.0.1:port`,
 * what the local environment advertises) the SDK already uses path-style addressing, but with a host
 * name such as `localhost` or a compose service name it would use virtual-hosted style
 * (`bucket.localhost`), which does not resolve; so path style is forced for any custom endpoint
 * outside `amazonaws.com`.
 *
 * @example
 * const env = handlerEnv({ ONLINE_TABLE_NAME: required });
 * const dynamo = dynamoDbClient(env);
 * const s3 = s3Client(env); // honours AWS_ENDPOINT_URL_S3, AWS_REGION and the credentials chain
 */
import { AthenaClient } from '@aws-sdk/client-athena';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity } from '@smithy/types';

/** The variables the clients read; any environment object (or `process.env`) has them. */
export interface AwsEnv {
  readonly AWS_REGION?: string | undefined;
  readonly AWS_DEFAULT_REGION?: string | undefined;
  readonly AWS_ENDPOINT_URL?: string | undefined;
  readonly AWS_ENDPOINT_URL_S3?: string | undefined;
  readonly AWS_ENDPOINT_URL_DYNAMODB?: string | undefined;
  readonly AWS_ENDPOINT_URL_ATHENA?: string | undefined;
  readonly AWS_ENDPOINT_URL_EVENTBRIDGE?: string | undefined;
  readonly AWS_ENDPOINT_URL_CLOUDWATCH?: string | undefined;
}

/** What a caller outside a Lambda may fix (the local engines' fixed credentials, say). */
export interface ClientOverrides {
  /** @default - the SDK's credential chain */
  readonly credentials?: AwsCredentialIdentity;
}

/** An endpoint variable that is not a URL: a configuration mistake, reported before any call. */
export class ClientConfigError extends Error {
  override readonly name = 'ClientConfigError';
}

type Service = 'S3' | 'DYNAMODB' | 'ATHENA' | 'EVENTBRIDGE' | 'CLOUDWATCH';

function endpointOf(env: AwsEnv, service: Service): string | undefined {
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL;
  if (!endpoint) return undefined;
  try {
    new URL(endpoint);
  } catch {
    const name = env[`AWS_ENDPOINT_URL_${service}`] ? `AWS_ENDPOINT_URL_${service}` : 'AWS_ENDPOINT_URL';
    throw new ClientConfigError(`${name} must be a URL, but ${JSON.stringify(endpoint)} was provided`);
  }
  return endpoint;
}

function base(env: AwsEnv, service: Service, overrides: ClientOverrides) {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const endpoint = endpointOf(env, service);
  return {
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(overrides.credentials ? { credentials: overrides.credentials } : {}),
  };
}

/** An S3 client; path-style addressing for any endpoint outside AWS (see the module note). */
export function s3Client(env: AwsEnv = process.env, overrides: ClientOverrides = {}): S3Client {
  const config: S3ClientConfig = { region: 'us-east-1', ...base(env, 'S3', overrides) };
  if (config.endpoint) config.forcePathStyle = !new URL(String(config.endpoint)).hostname.endsWith('.amazonaws.com');
  return new S3Client(config);
}

export function dynamoDbClient(env: AwsEnv = process.env, overrides: ClientOverrides = {}): DynamoDBClient {
  return new DynamoDBClient(base(env, 'DYNAMODB', overrides));
}

export function athenaClient(env: AwsEnv = process.env, overrides: ClientOverrides = {}): AthenaClient {
  return new AthenaClient(base(env, 'ATHENA', overrides));
}

export function eventBridgeClient(
  env: AwsEnv = process.env,
  overrides: ClientOverrides = {},
): EventBridgeClient {
  return new EventBridgeClient(base(env, 'EVENTBRIDGE', overrides));
}

export function cloudWatchClient(env: AwsEnv = process.env, overrides: ClientOverrides = {}): CloudWatchClient {
  return new CloudWatchClient(base(env, 'CLOUDWATCH', overrides));
}

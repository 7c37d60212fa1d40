/**
 * MLflow REST (registry + tracking) behind API Gateway (REST API, Lambda proxy, payload 1.0).
 * An adapter only: it turns the event into a request for `handleMlflowRequest` and back.
 *
 * Environment:
 * - `REGISTRY_TABLE_NAME` — the table built from `REGISTRY_TABLE_SPEC`;
 * - `ARTIFACTS_BUCKET` — default artifact root `s3://<bucket>/mlflow/<experiment_id>`, listed (never
 *   read or written) for `artifacts/list`;
 * - `EVENT_BUS_NAME` — where `ModelVersionPromoted` events go.
 * Endpoints follow the SDK's own variables (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, `AWS_ENDPOINT_URL_S3`),
 * which is how the local runtime points this same bundle at its engines.
 *
 * @example
 * // API Gateway: ANY /{proxy+} → this function; GET /api/2.0/mlflow/registered-models/get?name=fraud
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DynamoRegistryStore } from '../lib/adapters/dynamodb/registry-store';
import { EventBridgePublisher } from '../lib/adapters/eventbridge/promotion-events';
import { s3ArtifactLister } from '../lib/adapters/s3/artifact-lister';
import {
  type ApiServices,
  artifactRoot,
  createRegistryServices,
  type HttpRequest,
  handleMlflowRequest,
} from '../lib/registry';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `Environment variable ${name} must be set, but it is ${value === undefined ? 'missing' : 'empty'}.`,
    );
  return value;
}

/** The handler's environment, validated once at cold start; the adapters are built from it alone. */
const env = {
  tableName: requiredEnv('REGISTRY_TABLE_NAME'),
  artifactsBucket: requiredEnv('ARTIFACTS_BUCKET'),
  eventBusName: requiredEnv('EVENT_BUS_NAME'),
};
const logger = new Logger({ serviceName: 'registry' });
const services: ApiServices = {
  ...createRegistryServices({
    store: new DynamoRegistryStore(new DynamoDBClient({}), env.tableName),
    artifactsBucket: env.artifactsBucket,
    events: new EventBridgePublisher(new EventBridgeClient({}), env.eventBusName),
    artifacts: s3ArtifactLister(new S3Client({}), artifactRoot(env.artifactsBucket)),
    logger: {
      warn: (message, attributes) => logger.warn(message, attributes),
      error: (message, attributes) => logger.error(message, attributes),
    },
  }),
  onInternalError: (error) => logger.error('Unhandled error', error as Error),
};

/** Converts an API Gateway proxy event (payload 1.0) into the transport-neutral request. */
export function toHttpRequest(event: APIGatewayProxyEvent): HttpRequest {
  const query: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(event.multiValueQueryStringParameters ?? {})) if (v) query[k] = v;
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {}))
    if (v !== undefined && !query[k]) query[k] = [v];
  const body =
    event.body === null || event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  return { method: event.httpMethod, path: event.path, headers: event.headers ?? {}, query, body };
}

/** A handler over the given services (tests pass a recording publisher; production uses `handler`). */
export const createHandler =
  (deps: ApiServices) =>
  (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> =>
    handleMlflowRequest(toHttpRequest(event), deps);

export const handler = createHandler(services);

/**
 * MLflow REST (registry + tracking) behind API Gateway (REST API, Lambda proxy, payload 1.0).
 * An adapter only: it turns the event into a request for `handleMlflowRequest` and back.
 *
 * Environment:
 * - `REGISTRY_TABLE_NAME` — the table built from `REGISTRY_TABLE_SPEC`;
 * - `ARTIFACTS_BUCKET` — default artifact root `s3://<bucket>/mlflow/<experiment_id>`, listed (never
 *   read or written) for `artifacts/list`;
 * - `EVENT_BUS_NAME` — where `ModelVersionPromoted` events go;
 * - `PRODUCTION_PROMOTERS` (optional) — comma-separated role ARNs, the only callers that may move a
 *   version into Production or move the `champion` alias (production: the release machine's role);
 *   unset, anyone the API lets in may.
 * Endpoints follow the SDK's own variables (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, `AWS_ENDPOINT_URL_S3`),
 * which is how the local runtime points this same bundle at its engines.
 *
 * @example
 * // API Gateway: ANY /{proxy+} → this function; GET /api/2.0/mlflow/registered-models/get?name=fraud
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDbClient, eventBridgeClient, s3Client } from '../lib/adapters/clients';
import { DynamoRegistryStore } from '../lib/adapters/dynamodb/registry-store';
import { EventBridgePublisher } from '../lib/adapters/eventbridge/promotion-events';
import { handlerEnv, optional, required } from '../lib/adapters/handler-env';
import { s3ArtifactLister } from '../lib/adapters/s3/artifact-lister';
import {
  type ApiServices,
  artifactRoot,
  createRegistryServices,
  type HttpRequest,
  handleMlflowRequest,
} from '../lib/registry';

/** The handler's environment, validated once at cold start; the adapters are built from it alone. */
const env = handlerEnv({
  REGISTRY_TABLE_NAME: required,
  ARTIFACTS_BUCKET: required,
  EVENT_BUS_NAME: required,
  PRODUCTION_PROMOTERS: optional,
});
const promoters = (env.PRODUCTION_PROMOTERS ?? '').split(',').map((p) => p.trim()).filter(Boolean);
const logger = new Logger({ serviceName: 'registry' });
const services: ApiServices = {
  ...createRegistryServices({
    store: new DynamoRegistryStore(dynamoDbClient(env), env.REGISTRY_TABLE_NAME),
    artifactsBucket: env.ARTIFACTS_BUCKET,
    events: new EventBridgePublisher(eventBridgeClient(env), env.EVENT_BUS_NAME),
    artifacts: s3ArtifactLister(s3Client(env), artifactRoot(env.ARTIFACTS_BUCKET)),
    logger: {
      warn: (message, attributes) => logger.warn(message, attributes),
      error: (message, attributes) => logger.error(message, attributes),
    },
  }),
  onInternalError: (error) => logger.error('Unhandled error', error as Error),
  ...(promoters.length > 0 ? { productionGuard: { principals: promoters } } : {}),
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
  // IAM authorization fills the caller's ARN; the local gateway (no IAM) leaves it null.
  const caller = event.requestContext?.identity?.userArn ?? undefined;
  return { method: event.httpMethod, path: event.path, headers: event.headers ?? {}, query, body, ...(caller ? { caller } : {}) };
}

/** A handler over the given services (tests pass a recording publisher; production uses `handler`). */
export const createHandler =
  (deps: ApiServices) =>
  (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> =>
    handleMlflowRequest(toHttpRequest(event), deps);

export const handler = createHandler(services);

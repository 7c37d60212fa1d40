/**
 * Feature server Lambda (API Gateway REST API, proxy integration): Feast's `/get-online-features`,
 * `/push`, `/health` and the read-only registry routes `/api/v1/...` over the wine feature repo, the DynamoDB online table and the lake bucket.
 *
 * Environment:
 *   ONLINE_TABLE_NAME  the online table (read/write)
 *   OFFLINE_BUCKET     the lake bucket offline pushes are appended to (write)
 *   OFFLINE_PREFIX     key prefix of the feature store in the bucket (default: none)
 *   AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3  local engines (the local environment)
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { s3Client } from '../lib/adapters/clients';
import { dynamoDocumentClient } from '../lib/adapters/dynamodb/document-client';
import { DynamoDbOnlineStore } from '../lib/adapters/dynamodb/online-store';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { createFeatureHttpHandler } from '../lib/features/http';
import { S3OfflineWriter } from '../lib/features/offline-writer';
import { createFeatureServer } from '../lib/features/serving';
import { wineRepo } from '../lib/features/wine';

const env = handlerEnv({
  ONLINE_TABLE_NAME: required,
  OFFLINE_BUCKET: required,
  OFFLINE_PREFIX: z.string().default(''),
});

const logger = new Logger({ serviceName: 'features' });

const store = new DynamoDbOnlineStore({ client: dynamoDocumentClient(env), tableName: env.ONLINE_TABLE_NAME });
const server = createFeatureServer({
  repo: wineRepo,
  store,
  offline: new S3OfflineWriter({
    objects: s3Objects(s3Client(env)),
    bucket: env.OFFLINE_BUCKET,
    prefix: env.OFFLINE_PREFIX,
  }),
});

export const handler = createFeatureHttpHandler(server, {
  registry: { repo: wineRepo, log: store },
  onInternalError: (err) => logger.error('feature server request failed', err as Error),
});

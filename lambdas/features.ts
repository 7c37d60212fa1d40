/**
 * Feature server Lambda (API Gateway REST API, proxy integration): Feast's `/get-online-features`,
 * `/push` and `/health` over the wine feature repo, the DynamoDB online table and the lake bucket.
 *
 * Environment:
 *   ONLINE_TABLE_NAME  the online table (read/write)
 *   OFFLINE_BUCKET     the lake bucket offline pushes are appended to (write)
 *   OFFLINE_PREFIX     key prefix of the feature store in the bucket (default: none)
 *   AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3  local engines (the local environment)
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { createFeatureHttpHandler } from '../lib/features/http';
import { S3OfflineWriter } from '../lib/features/offline-writer';
import { OnlineStore } from '../lib/features/online-store';
import { createFeatureServer } from '../lib/features/serving';
import { wineRepo } from '../lib/features/wine';

// Fails at cold start, with the variable's name, rather than on the first request.
const env = z
  .object({
    ONLINE_TABLE_NAME: z.string().min(1),
    OFFLINE_BUCKET: z.string().min(1),
    OFFLINE_PREFIX: z.string().default(''),
    AWS_ENDPOINT_URL_DYNAMODB: z.string().url().optional(),
    AWS_ENDPOINT_URL_S3: z.string().url().optional(),
  })
  .parse(process.env);

const logger = new Logger({ serviceName: 'features' });

const dynamo = DynamoDBDocumentClient.from(
  new DynamoDBClient(env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: env.AWS_ENDPOINT_URL_DYNAMODB } : {}),
  { marshallOptions: { removeUndefinedValues: true } },
);
// Local S3 engines serve buckets by path, not by virtual host.
const s3 = new S3Client(
  env.AWS_ENDPOINT_URL_S3 ? { endpoint: env.AWS_ENDPOINT_URL_S3, forcePathStyle: true } : {},
);

const server = createFeatureServer({
  repo: wineRepo,
  store: new OnlineStore({ client: dynamo, tableName: env.ONLINE_TABLE_NAME }),
  offline: new S3OfflineWriter({ client: s3, bucket: env.OFFLINE_BUCKET, prefix: env.OFFLINE_PREFIX }),
});

export const handler = createFeatureHttpHandler(server, {
  onInternalError: (err) => logger.error('feature server request failed', err as Error),
});

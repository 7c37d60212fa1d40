/**
 * Materialization's worker, one child execution of the per-view Distributed Map: streams each
 * UNLOAD part of its ItemBatcher batch and writes the rows to the online table (BatchWriteItem,
 * newer-wins; see lib/features/materialize.ts). Also, once the Map Run ends, its counts: the
 * children's outputs added up from the ResultWriter's manifest.
 *
 * Input (a child):  { "BatchInput": { "featureView": "wine_features", "bucket": "<curated>" },
 *                     "Items": [{ "Key": "materialize/unload/<execution>/wine_features/<part>" }, …] }
 * Output:           { featureView, parts, rowsRead, written, skippedStale }
 * Input (counts):   { "summarize": { "featureView": "wine_features", "Bucket": "<curated>", "Key": "<…>/manifest.json" } }
 * Output:           { children, failedChildren, parts, rowsRead, written, skippedStale }
 * Errors: InvalidMaterializationInput (malformed event), MaterializeDataError (a row that does not
 *   fit the view), UnprocessedError (DynamoDB kept refusing items after the retries).
 *
 * Environment:
 *   ONLINE_TABLE_NAME  the online table (BatchGetItem, BatchWriteItem)
 *   UNLOAD_BUCKET      the curated bucket (read under materialize/)
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { s3Client } from '../lib/adapters/clients';
import { dynamoDocumentClient } from '../lib/adapters/dynamodb/document-client';
import { DynamoDbOnlineStore } from '../lib/adapters/dynamodb/online-store';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import {
  type MapRunSummary,
  type MaterializeWriteResult,
  materializeParts,
  summarizeMapRun,
} from '../lib/features/materialize';
import { InvalidMaterializationInput, MATERIALIZATION_S3_PREFIX } from '../lib/features/stack-support';
import { wineRepo } from '../lib/features/wine';
import { parseEvent } from '../lib/shared/events';

const env = handlerEnv({ ONLINE_TABLE_NAME: required, UNLOAD_BUCKET: required });

const logger = new Logger({ serviceName: 'materialize-write' });

const objects = s3Objects(s3Client(env));
const store = new DynamoDbOnlineStore({ client: dynamoDocumentClient(env), tableName: env.ONLINE_TABLE_NAME });

const bucket = z.literal(env.UNLOAD_BUCKET, { error: `must be the UNLOAD bucket ${env.UNLOAD_BUCKET}` });
const key = z
  .string()
  .max(1024)
  .refine((k) => k.startsWith(MATERIALIZATION_S3_PREFIX) && !k.split('/').includes('..'), {
    error: `must be a key under ${MATERIALIZATION_S3_PREFIX}`,
  });
const featureView = z.string().min(1).max(128);

const childSchema = z.object({
  BatchInput: z.object({ featureView, bucket }),
  // ItemBatcher batches are small (config materialization.partsPerBatch ≤ 100).
  Items: z.array(z.object({ Key: key })).min(1).max(100),
});
const summarizeSchema = z.object({ summarize: z.object({ featureView, Bucket: bucket, Key: key }) });

export const handler = async (event: unknown): Promise<MaterializeWriteResult | MapRunSummary> => {
  if (typeof event === 'object' && event !== null && 'summarize' in event) {
    const { summarize } = parseEvent(summarizeSchema, event, 'Count the view', InvalidMaterializationInput);
    const summary = await summarizeMapRun(
      { getText: async (b, k) => Buffer.from((await objects.get(b, k)).body).toString('utf8') },
      { bucket: summarize.Bucket, key: summarize.Key },
    );
    logger.info('map run', { featureView: summarize.featureView, ...summary });
    return summary;
  }
  const input = parseEvent(childSchema, event, 'Write parts', InvalidMaterializationInput);
  const parts = input.Items.map((item) => ({
    key: item.Key,
    get chunks() {
      return lazy(() => objects.stream(input.BatchInput.bucket, item.Key));
    },
  }));
  const result = await materializeParts({ repo: wineRepo, featureView: input.BatchInput.featureView, parts, store });
  logger.info('materialized', { ...result });
  return result;
};

/** Opens the stream only when the core starts reading the part: one part open at a time. */
async function* lazy(open: () => Promise<AsyncIterable<Uint8Array>>): AsyncGenerator<Uint8Array> {
  yield* await open();
}

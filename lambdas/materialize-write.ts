/**
 * Materialization's write step, called by the state machine after the Athena query of
 * `materializationSql` succeeded: pages through `GetQueryResults` (NextToken) and writes the rows
 * to the online table. Reading results through the Athena API (not the result CSV in S3) keeps one
 * code path for AWS and the local environment, whose Athena engine serves the same shape.
 *
 * Input:  { "featureView": "wine_features", "queryExecutionId": "…" }
 * Output: { featureView, rowsRead, written, skippedStale }
 *
 * Environment:
 *   ONLINE_TABLE_NAME  the online table (read/write)
 *   AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_ATHENA  local engines (the local environment)
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { AthenaClient, paginateGetQueryResults } from '@aws-sdk/client-athena';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import {
  type AthenaResultSet,
  type MaterializeWriteResult,
  materializeResults,
} from '../lib/features/materialize';
import { OnlineStore } from '../lib/features/online-store';
import { wineRepo } from '../lib/features/wine';

const env = z
  .object({
    ONLINE_TABLE_NAME: z.string().min(1),
    AWS_ENDPOINT_URL_DYNAMODB: z.string().url().optional(),
    AWS_ENDPOINT_URL_ATHENA: z.string().url().optional(),
  })
  .parse(process.env);

const logger = new Logger({ serviceName: 'materialize-write' });

const athena = new AthenaClient(env.AWS_ENDPOINT_URL_ATHENA ? { endpoint: env.AWS_ENDPOINT_URL_ATHENA } : {});
const store = new OnlineStore({
  client: DynamoDBDocumentClient.from(
    new DynamoDBClient(env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: env.AWS_ENDPOINT_URL_DYNAMODB } : {}),
    { marshallOptions: { removeUndefinedValues: true } },
  ),
  tableName: env.ONLINE_TABLE_NAME,
});

const inputSchema = z.object({ featureView: z.string().min(1), queryExecutionId: z.string().min(1) });

// Athena's maximum page size: fewer round trips for large views.
const PAGE_SIZE = 1000;

export const handler = async (event: unknown): Promise<MaterializeWriteResult> => {
  const input = inputSchema.parse(event);
  const pages = (async function* (): AsyncGenerator<AthenaResultSet> {
    for await (const page of paginateGetQueryResults(
      { client: athena, pageSize: PAGE_SIZE },
      { QueryExecutionId: input.queryExecutionId },
    )) {
      if (page.ResultSet) yield page.ResultSet;
    }
  })();
  const result = await materializeResults({ repo: wineRepo, featureView: input.featureView, pages, store });
  logger.info('materialized', { ...result, queryExecutionId: input.queryExecutionId });
  return result;
};

/**
 * Materialization's write step, called by the state machine after the Athena query of
 * `materializationSql` succeeded: pages through `GetQueryResults` (NextToken) and writes the rows
 * to the online table (see lib/adapters/athena/query-results.ts for why through the API).
 *
 * Input:  { "featureView": "wine_features", "queryExecutionId": "…" }
 * Output: { featureView, rowsRead, written, skippedStale }
 *
 * Environment:
 *   ONLINE_TABLE_NAME  the online table (read/write)
 *   AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_ATHENA  local engines (the local environment)
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { queryResultPages } from '../lib/adapters/athena/query-results';
import { athenaClient } from '../lib/adapters/clients';
import { dynamoDocumentClient } from '../lib/adapters/dynamodb/document-client';
import { DynamoDbOnlineStore } from '../lib/adapters/dynamodb/online-store';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { type MaterializeWriteResult, materializeResults } from '../lib/features/materialize';
import { InvalidMaterializationInput } from '../lib/features/stack-support';
import { wineRepo } from '../lib/features/wine';
import { parseEvent } from '../lib/shared/events';

const env = handlerEnv({ ONLINE_TABLE_NAME: required });

const logger = new Logger({ serviceName: 'materialize-write' });

const athena = athenaClient(env);
const store = new DynamoDbOnlineStore({ client: dynamoDocumentClient(env), tableName: env.ONLINE_TABLE_NAME });

const inputSchema = z.object({ featureView: z.string().min(1), queryExecutionId: z.string().min(1) });

export const handler = async (event: unknown): Promise<MaterializeWriteResult> => {
  const input = parseEvent(inputSchema, event, 'WriteOnline', InvalidMaterializationInput);
  const pages = queryResultPages(athena, input.queryExecutionId);
  const result = await materializeResults({ repo: wineRepo, featureView: input.featureView, pages, store });
  logger.info('materialized', { ...result, queryExecutionId: input.queryExecutionId });
  return result;
};

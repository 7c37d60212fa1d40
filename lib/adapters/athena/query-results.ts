/**
 * An Athena query's result pages through `GetQueryResults` (NextToken), as materialization's write
 * step consumes them. Reading results through the Athena API (not the result CSV in S3) keeps one
 * code path for AWS and the local environment, whose Athena engine serves the same shape.
 *
 * @example
 * for await (const page of queryResultPages(athenaClient(env), queryExecutionId)) rows += page.Rows?.length ?? 0;
 */
import { type AthenaClient, paginateGetQueryResults } from '@aws-sdk/client-athena';
import type { AthenaResultSet } from '../../features/materialize';

// Athena's maximum page size: fewer round trips for large views.
const PAGE_SIZE = 1000;

export async function* queryResultPages(
  client: AthenaClient,
  queryExecutionId: string,
): AsyncGenerator<AthenaResultSet> {
  for await (const page of paginateGetQueryResults(
    { client, pageSize: PAGE_SIZE },
    { QueryExecutionId: queryExecutionId },
  )) {
    if (page.ResultSet) yield page.ResultSet;
  }
}

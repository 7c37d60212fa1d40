/**
 * An Athena query's result pages through `GetQueryResults` (NextToken), for the small results the
 * quality and deployer steps read. Reading results through the Athena API (not the result CSV in
 * S3) keeps one code path for AWS and the local environment, whose Athena engine serves the same
 * shape. (Bulk reads do not page here: materialization UNLOADs to S3 and streams the parts.)
 *
 * @example
 * for await (const page of queryResultPages(athenaClient(env), queryExecutionId)) rows += page.Rows?.length ?? 0;
 */
import { type AthenaClient, paginateGetQueryResults } from '@aws-sdk/client-athena';

/** The part of Athena's `ResultSet` the callers read. */
export interface AthenaResultSet {
  readonly ResultSetMetadata?: {
    readonly ColumnInfo?: readonly { readonly Name?: string; readonly Label?: string }[];
  };
  readonly Rows?: readonly { readonly Data?: readonly { readonly VarCharValue?: string }[] }[];
}

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

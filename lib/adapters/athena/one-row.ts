/**
 * Runs one Athena query that answers a single row (an aggregate) and returns it by column name:
 * StartQueryExecution in the lake workgroup, GetQueryExecution until it ends, GetQueryResults.
 * "Validate data" uses it for its aggregate (lib/pipelines/validate-sql.ts): the Lambda holds one
 * row, whatever the size of the table Athena scans.
 *
 * @example
 * const query = athenaOneRow(athenaClient(env), { workGroup: 'mlops-local', database: 'mlops_local' });
 * const row = await query('SELECT count(*) AS "rows" FROM "mlops_local"."wine__text"'); // { rows: '1599' }
 */
import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';

export type OneRowQuery = (sql: string) => Promise<Record<string, string | null>>;

export class AthenaQueryFailedError extends Error {
  override readonly name = 'AthenaQueryFailedError';
}

export function athenaOneRow(
  client: AthenaClient,
  where: { readonly workGroup: string; readonly database: string },
  options: { readonly pollMs?: number; readonly sleep?: (ms: number) => Promise<void> } = {},
): OneRowQuery {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pollMs = options.pollMs ?? 100;
  return async (sql) => {
    const { QueryExecutionId } = await client.send(
      new StartQueryExecutionCommand({
        QueryString: sql,
        WorkGroup: where.workGroup,
        QueryExecutionContext: { Database: where.database },
      }),
    );
    // Polled with a growing pause, from 100 ms (an aggregate over a small table ends within a few
    // hundred: locally the wine table's takes ~0.1 s, and a first pause of 500 ms cost the
    // first start's "Validate data" 0.13 s, median of 8 paired starts) to 5 s (a scan of a large
    // table takes minutes; a two-minute query is polled 30 times, against 28 from 500 ms).
    for (let wait = pollMs; ; wait = Math.min(wait * 2, 5000)) {
      const { QueryExecution } = await client.send(new GetQueryExecutionCommand({ QueryExecutionId }));
      const state = QueryExecution?.Status?.State;
      if (state === 'SUCCEEDED') break;
      if (state === 'FAILED' || state === 'CANCELLED') {
        throw new AthenaQueryFailedError(
          `the validation query ${QueryExecutionId} ${state.toLowerCase()}: ${QueryExecution?.Status?.StateChangeReason ?? 'no reason given'}`,
        );
      }
      await sleep(wait);
    }
    const page = await client.send(new GetQueryResultsCommand({ QueryExecutionId, MaxResults: 2 }));
    const [names, values] = (page.ResultSet?.Rows ?? []).map((r) => (r.Data ?? []).map((d) => d.VarCharValue ?? null));
    if (!names || !values) throw new AthenaQueryFailedError(`the validation query ${QueryExecutionId} returned no row`);
    return Object.fromEntries(names.map((n, i) => [String(n), values[i] ?? null]));
  };
}

/**
 * The registry benchmark's child processes, one role each so the load generator never shares an
 * event loop with what it measures:
 *
 *   child.ts dynalite           in-memory dynalite with the registry table (`REGISTRY_TABLE_NAME`,
 *                               built by `createRegistryTable`); prints `ready <endpoint>`
 *   child.ts events             a stand-in EventBridge endpoint that accepts every PutEvents entry
 *                               and answers as EventBridge does; prints `ready <endpoint>`
 *   child.ts server <bundle>    the registry bundle behind a bare HTTP → API Gateway proxy event
 *                               (payload 1.0) adapter, as the REST API's Lambda proxy integration
 *                               delivers it; prints `ready <url>`
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createRegistryTable } from '../../lib/adapters/dynamodb/registry-table';
import { dynalite, listen, onBody, ready, runRole, serveBundle } from '../lib/child-harness';

/** Single- and multi-value views of the query string and headers, as API Gateway builds them. */
function proxyEvent(method: string, rawUrl: string, rawHeaders: IncomingHttpHeaders, body: string) {
  const url = new URL(rawUrl, 'http://localhost');
  const multi: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) multi[k] = [...(multi[k] ?? []), v];
  const single = Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v[v.length - 1]!]));
  const headers = Object.fromEntries(
    Object.entries(rawHeaders).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]),
  );
  const hasQuery = Object.keys(multi).length > 0;
  return {
    httpMethod: method,
    path: url.pathname,
    resource: url.pathname.startsWith('/ajax-api/')
      ? '/ajax-api/2.0/mlflow/{proxy+}'
      : '/api/2.0/mlflow/{proxy+}',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: hasQuery ? single : null,
    multiValueQueryStringParameters: hasQuery ? multi : null,
    pathParameters: { proxy: url.pathname.replace(/^\/(ajax-)?api\/2\.0\/mlflow\//, '') },
    body: body === '' ? null : body,
    isBase64Encoded: false,
    requestContext: { stage: 'v1', httpMethod: method, path: `/v1${url.pathname}` },
  };
}

async function events(): Promise<void> {
  let n = 0;
  const http = createServer((req, res) => {
    onBody(req, (body) => {
      const { Entries = [] } = JSON.parse(body || '{}') as { Entries?: unknown[] };
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({ FailedEntryCount: 0, Entries: Entries.map(() => ({ EventId: `bench-${++n}` })) }),
      );
    });
  });
  ready(await listen(http));
}

await runRole(
  {
    dynalite: () => dynalite((client) => createRegistryTable(client, process.env['REGISTRY_TABLE_NAME']!)),
    events,
    server: (bundle) =>
      serveBundle(bundle, (req, body) => proxyEvent(req.method ?? 'GET', req.url ?? '/', req.headers, body)),
  },
  'usage: child.ts dynalite | events | server <bundle.mjs>',
);

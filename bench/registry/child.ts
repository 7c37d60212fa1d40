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
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createRegistryTable } from '../../lib/registry';

type ProxyHandler = (
  event: unknown,
) => Promise<{ statusCode: number; headers?: Record<string, string>; body: string }>;

async function dynalite(): Promise<void> {
  const start = createRequire(import.meta.url)('dynalite') as (o: { createTableMs: number }) => Server;
  const server = start({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  await createRegistryTable(client, process.env['REGISTRY_TABLE_NAME']!);
  client.destroy();
  process.stdout.write(`ready ${endpoint}\n`);
}

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
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { Entries = [] } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        Entries?: unknown[];
      };
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({ FailedEntryCount: 0, Entries: Entries.map(() => ({ EventId: `bench-${++n}` })) }),
      );
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`ready http://127.0.0.1:${(http.address() as { port: number }).port}\n`);
}

async function server(bundle: string): Promise<void> {
  const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: ProxyHandler };
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = proxyEvent(
        req.method ?? 'GET',
        req.url ?? '/',
        req.headers,
        Buffer.concat(chunks).toString('utf8'),
      );
      handler(event).then(
        (out) => {
          res.writeHead(out.statusCode, out.headers ?? {});
          res.end(out.body);
        },
        (err: Error) => {
          res.writeHead(502);
          res.end(String(err?.message ?? err));
        },
      );
    });
  });
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`ready http://127.0.0.1:${(http.address() as { port: number }).port}\n`);
}

const [role, arg] = process.argv.slice(2);
if (role === 'dynalite') await dynalite();
else if (role === 'events') await events();
else if (role === 'server' && arg) await server(arg);
else {
  process.stderr.write('usage: child.ts dynalite | events | server <bundle.mjs>\n');
  process.exit(2);
}

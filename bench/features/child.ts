/**
 * The benchmark's child processes, one role each so the load generator never shares an event loop
 * with what it measures:
 *
 *   child.ts dynalite           dynalite with the online table; prints `ready <endpoint>`
 *   child.ts server <bundle>    the feature server bundle behind a bare HTTP → API Gateway proxy
 *                               event adapter; env ONLINE_TABLE_NAME etc.; prints `ready <url>`
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ONLINE_TABLE_SPEC } from '../../lib/features/definitions';

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
  await client.send(
    new CreateTableCommand({
      TableName: process.env['ONLINE_TABLE_NAME'],
      KeySchema: [{ AttributeName: ONLINE_TABLE_SPEC.partitionKey.name, KeyType: 'HASH' }],
      AttributeDefinitions: [
        {
          AttributeName: ONLINE_TABLE_SPEC.partitionKey.name,
          AttributeType: ONLINE_TABLE_SPEC.partitionKey.type,
        },
      ],
      BillingMode: ONLINE_TABLE_SPEC.billingMode,
    }),
  );
  process.stdout.write(`ready ${endpoint}\n`);
}

async function server(bundle: string): Promise<void> {
  const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: ProxyHandler };
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      handler({
        httpMethod: req.method,
        path: url.pathname,
        resource: url.pathname,
        headers: req.headers,
        queryStringParameters: null,
        body: Buffer.concat(chunks).toString('utf8'),
        isBase64Encoded: false,
        requestContext: { stage: 'v1' },
      }).then(
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
else if (role === 'server' && arg) await server(arg);
else {
  process.stderr.write('usage: child.ts dynalite | server <bundle.mjs>\n');
  process.exit(2);
}

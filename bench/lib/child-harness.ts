/**
 * What the handler load benchmarks' child processes (bench/features/child.ts,
 * bench/registry/child.ts) share: dynalite with the benchmark's tables, a handler bundle behind a
 * bare HTTP → API Gateway proxy-event adapter (one process serving concurrent requests, as the
 * local gateway does), and the `ready <url>` line `BenchRun.start` (./harness.ts) waits for.
 *
 * Kept free of esbuild and aws-cdk-lib, so a measured process loads only what it serves.
 *
 * @example
 * await runRole(
 *   {
 *     dynalite: () => dynalite((client) => createRegistryTable(client, 'bench-registry')),
 *     server: (bundle) => serveBundle(bundle, (req, body) => ({ httpMethod: req.method, body })),
 *   },
 *   'usage: child.ts dynalite | server <bundle.mjs>',
 * );
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

type ProxyHandler = (
  event: unknown,
) => Promise<{ statusCode: number; headers?: Record<string, string>; body: string }>;

/** Listens on a free loopback port and returns the server's base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Tells the parent this child is ready, and where. */
export function ready(url: string): void {
  process.stdout.write(`ready ${url}\n`);
}

/** Calls `then` with the request's whole body once it has arrived. */
export function onBody(req: IncomingMessage, then: (body: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => then(Buffer.concat(chunks).toString('utf8')));
}

/**
 * Starts in-memory dynalite, lets `createTables` create what the benchmark needs through a client
 * of it, and announces its endpoint.
 *
 * @example
 * await dynalite((client) => createRegistryTable(client, process.env['REGISTRY_TABLE_NAME']!));
 */
export async function dynalite(createTables: (client: DynamoDBClient) => Promise<unknown>): Promise<void> {
  const start = createRequire(import.meta.url)('dynalite') as (o: { createTableMs: number }) => Server;
  const endpoint = await listen(start({ createTableMs: 0 }));
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  await createTables(client);
  client.destroy();
  ready(endpoint);
}

/**
 * Serves the bundle's `handler` over HTTP: `toEvent` turns each request into the API Gateway proxy
 * event the handler expects; the handler's response is written back as it is, a rejection as 502.
 *
 * @example
 * await serveBundle('/tmp/x/index.mjs', (req, body) => ({ httpMethod: req.method, path: req.url, body }));
 */
export async function serveBundle(
  bundle: string,
  toEvent: (req: IncomingMessage, body: string) => unknown,
): Promise<void> {
  const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: ProxyHandler };
  const http = createServer((req, res) => {
    onBody(req, (body) => {
      handler(toEvent(req, body)).then(
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
  ready(await listen(http));
}

/**
 * Runs the role named by the first argument. A role whose function declares a parameter takes the
 * second argument and is refused without it; an unknown role prints `usage` and exits 2.
 *
 * @example
 * await runRole({ events: () => events(), server: (bundle) => serveBundle(bundle, toEvent) }, 'usage: …');
 */
export async function runRole(
  roles: Record<string, (arg: string) => Promise<void>>,
  usage: string,
): Promise<void> {
  const [role, arg] = process.argv.slice(2);
  const run = role !== undefined && Object.hasOwn(roles, role) ? roles[role] : undefined;
  if (run === undefined || (run.length > 0 && !arg)) {
    process.stderr.write(`${usage}\n`);
    process.exit(2);
  }
  await run(arg ?? '');
}

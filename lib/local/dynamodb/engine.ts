/**
 * The local DynamoDB engine: dynalite on 127.0.0.1, backed by LevelDB under
 * `<stateDir>/dynamodb/`, so tables and items survive restarts (and a SIGKILL: LevelDB's log is
 * written before a request is answered, and its lock dies with the process).
 */
import { create as createDomain } from 'node:domain';
import type { RequestListener, Server, ServerResponse } from 'node:http';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { layout } from '../layout';
import type { TableSpec } from './tables';
import { guard } from '../http-guard';
import { listenOnLoopback } from '../listen';

/** Options of {@link startDynamoDb}. */
export interface DynamoDbOptions {
  /** The state dir; LevelDB lives in `layout(stateDir).dynamodb`. */
  readonly stateDir: string;
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
}

/** What {@link DynamoDbEngine.ensureTables} did with each table. */
export interface EnsuredTable {
  readonly tableName: string;
  readonly logicalId: string;
  /** `created` now, or `kept` (already there, with its data). */
  readonly action: 'created' | 'kept';
  /** Template settings the engine does not apply. */
  readonly ignored: readonly string[];
}

/** A running local DynamoDB. */
export interface DynamoDbEngine {
  /** `http://127.0.0.1:<port>`: the client's `endpoint`, or `AWS_ENDPOINT_URL_DYNAMODB`. */
  readonly endpoint: string;
  readonly port: number;
  /**
   * Creates missing tables and keeps existing ones (with their items). Fails, naming the table,
   * if an existing table's keys or indexes differ from the spec.
   */
  ensureTables(specs: readonly TableSpec[]): Promise<EnsuredTable[]>;
  /** Closes the server, its connections and the LevelDB handle; the port and the DB lock are free after. */
  close(): Promise<void>;
}

/** The LevelDB store cannot be opened: damaged files (a truncated MANIFEST, a missing CURRENT). */
export class DynamoDbStoreError extends Error {
  override readonly name = 'DynamoDbStoreError';
}

/** An existing table that no longer matches the template. */
export class TableSchemaMismatchError extends Error {
  override readonly name = 'TableSchemaMismatchError';
}

/**
 * Starts dynalite on 127.0.0.1 with durable storage.
 *
 * @example
 * const dynamo = await startDynamoDb({ stateDir });
 * await dynamo.ensureTables(tableSpecsFromTemplate(template.Resources, resolve));
 * // handlers: AWS_ENDPOINT_URL_DYNAMODB=dynamo.endpoint
 * await dynamo.close();
 */
export async function startDynamoDb(options: DynamoDbOptions): Promise<DynamoDbEngine> {
  const path = layout(options.stateDir).dynamodb;
  await mkdir(path, { recursive: true });
  await probeStore(path);
  // createTableMs 0: tables are ACTIVE at once, so `mlops up` need not wait on them.
  const server: Server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // dynalite answers bad input itself; the guard keeps anything it throws inside the listener.
  const [dynaliteListener] = server.listeners('request') as RequestListener[];
  const handler: RequestListener = (req, res) => {
    inStoreDomain(res, [req, res], () => dynaliteListener!(req, res));
    // dynalite rethrows request errors (`req.on('error', err => { throw err })`): a client hanging
    // up mid-body would be an uncaught exception that ends the process.
    req.removeAllListeners('error');
    req.on('error', () => undefined);
  };
  guard(server, handler, {
    error: (status, message) => {
      const type = status >= 500 ? 'InternalFailure' : 'SerializationException';
      return {
        contentType: 'application/x-amz-json-1.0',
        body: JSON.stringify({ __type: `com.amazon.coral.service#${type}`, message }),
      };
    },
    onError: (err) => console.error('[dynamodb]', err),
  });
  const port = await listenOnLoopback(server, options.port);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: process.env['AWS_REGION'] ?? 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    client.destroy();
    await new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Pooled keep-alive sockets would hold close() open until dynalite's 30 s timeout.
      server.closeAllConnections();
    });
  };

  // LevelDB opens lazily; touch it now so a locked or corrupt store fails `up`, not the first handler.
  try {
    await client.send(new DescribeTableCommand({ TableName: '__mlops_probe__' }));
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) {
      await close().catch(() => undefined);
      // The state dir's lock keeps other platforms out, so a failure to open is the files themselves.
      throw new DynamoDbStoreError(
        `the local DynamoDB store at ${path} cannot be opened (${(err as Error).message.split('\n')[0]}); ${FIX_STORE}`,
        { cause: err },
      );
    }
  }

  return {
    endpoint,
    port,
    close,
    async ensureTables(specs) {
      const out: EnsuredTable[] = [];
      for (const spec of specs) {
        const name = spec.input.TableName!;
        const existing = await client
          .send(new DescribeTableCommand({ TableName: name }))
          .then((r) => r.Table)
          .catch((err: unknown) => {
            if (err instanceof ResourceNotFoundException) return undefined;
            throw err;
          });
        if (existing) {
          const problem = schemaDifference(spec, existing);
          if (problem) {
            throw new TableSchemaMismatchError(
              `Table ${name} (${spec.logicalId}) in ${path} has ${problem}. Its items cannot be migrated locally: run \`mlops reset\` to start from empty tables.`,
            );
          }
          out.push({ tableName: name, logicalId: spec.logicalId, action: 'kept', ignored: spec.ignored });
          continue;
        }
        await client.send(new CreateTableCommand(spec.input));
        await waitActive(client, name);
        out.push({ tableName: name, logicalId: spec.logicalId, action: 'created', ignored: spec.ignored });
      }
      return out;
    },
  };
}

/**
 * Runs a request's dynalite work in a domain of its own: LevelDB I/O errors (a full disk) are
 * thrown from inside dynalite's callbacks, out of reach of any try/catch, and would end the
 * process; here they answer this request with DynamoDB's 500 instead. (`node:domain` is
 * deprecated, but nothing else scopes errors thrown from a dependency's callbacks.)
 */
function inStoreDomain(res: ServerResponse, emitters: NodeJS.EventEmitter[], run: () => void): void {
  const d = createDomain();
  d.on('error', (err: Error) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(
      JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
        message: `The local DynamoDB store failed: ${err.message}`,
      }),
    );
  });
  for (const e of emitters) d.add(e);
  d.run(run);
}

const FIX_STORE =
  'run `npx mlops up --reset-registry` to start from empty tables (the lake is kept), or `npx mlops reset` to clear all local state';

/**
 * Opens and closes the LevelDB store with the library dynalite itself uses: dynalite swallows an
 * open failure and later throws "Database is closed" from a callback, out of reach of any caller.
 */
async function probeStore(path: string): Promise<void> {
  const dynaliteRequire = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const { Level } = dynaliteRequire('level') as {
    Level: new (path: string, options: object) => { open(): Promise<void>; close(): Promise<void> };
  };
  const db = new Level(path, { valueEncoding: 'json' });
  try {
    await db.open();
  } catch (err) {
    const reason = ((err as Error & { cause?: Error }).cause ?? (err as Error)).message.split('\n')[0];
    throw new DynamoDbStoreError(`the local DynamoDB store at ${path} cannot be opened (${reason}); ${FIX_STORE}`, {
      cause: err,
    });
  }
  await db.close();
}

async function waitActive(client: DynamoDBClient, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`Table ${name} did not become ACTIVE.`);
}

/** A sentence describing how the existing table differs from the spec, or undefined if it matches. */
function schemaDifference(spec: TableSpec, table: TableDescription): string | undefined {
  const typeOf = (
    defs: readonly { AttributeName?: string; AttributeType?: string }[] | undefined,
    attr?: string,
  ) => defs?.find((d) => d.AttributeName === attr)?.AttributeType;
  const keys = (
    schema: readonly { AttributeName?: string; KeyType?: string }[] | undefined,
    defs: readonly { AttributeName?: string; AttributeType?: string }[] | undefined,
  ) =>
    (schema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}:${typeOf(defs, k.AttributeName)}`).join(',');
  const wantDefs = spec.input.AttributeDefinitions;
  const haveDefs = table.AttributeDefinitions;
  const want = keys(spec.input.KeySchema, wantDefs);
  const have = keys(table.KeySchema, haveDefs);
  if (want !== have) return `key schema [${have}] but the template now defines [${want}]`;

  const indexes = (
    list:
      | readonly { IndexName?: string; KeySchema?: { AttributeName?: string; KeyType?: string }[] }[]
      | undefined,
    defs: typeof wantDefs,
  ) =>
    (list ?? [])
      .map((i) => `${i.IndexName}(${keys(i.KeySchema, defs)})`)
      .sort()
      .join(' ');
  for (const [kind, wantList, haveList] of [
    ['global secondary indexes', spec.input.GlobalSecondaryIndexes, table.GlobalSecondaryIndexes],
    ['local secondary indexes', spec.input.LocalSecondaryIndexes, table.LocalSecondaryIndexes],
  ] as const) {
    const w = indexes(wantList, wantDefs);
    const h = indexes(haveList, haveDefs);
    if (w !== h) return `${kind} [${h || 'none'}] but the template now defines [${w || 'none'}]`;
  }
  return undefined;
}

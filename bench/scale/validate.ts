/**
 * bench/scale, "Validate data": the peak RSS of the validating process over a 10 MB and a 200 MB
 * wine CSV, before (the object read whole and parsed, as the step did until issue 19) and after
 * (each object's first bytes streamed, the cells checked by one Athena aggregate). The validating
 * side runs in a child process of its own so its peak RSS is its alone: S3 (the local S3 server)
 * and Athena (the local engine, DuckDB) run in this parent, the child reaching S3 over HTTP and
 * Athena through IPC, as the Lambda reaches both over the network.
 *
 *   npx tsx bench/scale/validate.ts [--sizes 10,200]
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { s3Objects } from '../../lib/adapters/s3/objects';
import { WINE_COLUMNS, WINE_CSV_PATH, WINE_RAW_PREFIX } from '../../lib/datasets/wine';
import { AthenaEngine, glueTableFromInput } from '../../lib/local/athena';
import { S3Store, startS3Server } from '../../lib/local/s3';
import type { LakeTable } from '../../lib/pipelines/catalog';
import { profileObjects } from '../../lib/pipelines/validate';
import { profileTable, textTwinName } from '../../lib/pipelines/validate-sql';

const BUCKET = 'bench-raw';
const DATABASE = 'bench';
const TABLE: LakeTable = {
  name: 'wine',
  location: `s3://${BUCKET}/${WINE_RAW_PREFIX}`,
  format: 'csv',
  delimiter: ';',
  skipHeader: 1,
  columns: WINE_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
};
const OPTIONS = { target: 'quality', minRows: 50, holdoutEvery: 5, ranges: { alcohol: { min: 0, max: 20 } } };
const KEY = `${WINE_RAW_PREFIX}wine.csv`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/**
 * This process's peak RSS (VmHWM). Not `process.resourceUsage().maxRSS`: Linux keeps ru_maxrss
 * across execve, so a child spawned by a parent holding the 200 MB body would start at its size.
 */
function peakRssKb(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no VmHWM in /proc/self/status (the bench reads peak RSS the Linux way)');
  return Number(m[1]);
}

interface ChildRequest {
  readonly mode: 'before' | 'after';
  readonly endpoint: string;
}

if (process.env['BENCH_VALIDATE_CHILD']) {
  // The validating side: what "Validate data" holds.
  const request = JSON.parse(process.env['BENCH_VALIDATE_CHILD']) as ChildRequest;
  const client = new S3Client({
    endpoint: request.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const objects = s3Objects(client);
  let pending: ((row: Record<string, string | null>) => void) | undefined;
  process.on('message', (row: Record<string, string | null>) => pending?.(row));
  const aggregate = (sql: string) =>
    new Promise<Record<string, string | null>>((resolve) => {
      pending = resolve;
      process.send!({ sql });
    });
  const started = process.hrtime.bigint();
  let rows: number;
  if (request.mode === 'before') {
    const { body } = await objects.get(BUCKET, KEY);
    rows = profileObjects(TABLE, [{ key: KEY, text: Buffer.from(body).toString('utf8') }], OPTIONS).rows;
  } else {
    const keys = await objects.list(BUCKET, WINE_RAW_PREFIX);
    rows = (await profileTable(TABLE, OPTIONS, { objects, aggregate, database: DATABASE, bucket: BUCKET, keys })).rows;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.send!({ done: { rows, ms, maxRssKb: peakRssKb() } });
  client.destroy();
  process.disconnect();
} else {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10,200' } } });
  const sizes = String(values.sizes).split(',').map(Number);
  if (sizes.some((s) => !Number.isFinite(s) || s <= 0)) {
    console.error(`--sizes must be positive numbers of MB, but ${values.sizes} was provided`);
    process.exit(2);
  }
  const stateDir = await mkdtemp(join(tmpdir(), 'mlops-bench-validate-'));
  const server = await startS3Server({ store: await S3Store.open(stateDir, [BUCKET, 'bench-results']) });
  const client = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const twin = glueTableFromInput(DATABASE, {
    Name: textTwinName(TABLE.name),
    Parameters: { classification: 'csv', 'skip.header.line.count': '1' },
    StorageDescriptor: {
      Location: TABLE.location,
      Columns: TABLE.columns.map((c) => ({ Name: c.name, Type: 'string' })),
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      SerdeInfo: {
        SerializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
        Parameters: { 'field.delim': ';' },
      },
    },
  });
  const athena = await AthenaEngine.start({
    stateDir,
    catalog: {
      databases: [DATABASE],
      tables: [twin],
      workGroups: [{ name: 'wg', outputLocation: 's3://bench-results/results/', enforce: true }],
    },
  });
  const runChild = (mode: ChildRequest['mode']) =>
    new Promise<{ rows: number; ms: number; maxRssKb: number }>((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), [], {
        env: { ...process.env, BENCH_VALIDATE_CHILD: JSON.stringify({ mode, endpoint: server.endpoint }) },
        execArgv: ['--import', 'tsx'],
      });
      child.on('message', async (m: { sql?: string; done?: { rows: number; ms: number; maxRssKb: number } }) => {
        if (m.done) return resolve(m.done);
        const { QueryExecutionId } = await athena.startQueryExecution({
          QueryString: m.sql!,
          WorkGroup: 'wg',
          QueryExecutionContext: { Database: DATABASE },
        });
        const execution = await athena.waitForQuery(QueryExecutionId);
        if (execution.Status.State !== 'SUCCEEDED') return reject(new Error(execution.Status.StateChangeReason));
        const page = await athena.getQueryResults({ QueryExecutionId });
        const [names, vals] = page.ResultSet.Rows.map((r) => r.Data.map((d) => d.VarCharValue ?? null));
        child.send(Object.fromEntries(names!.map((n, i) => [String(n), vals![i] ?? null])));
      });
      child.on('error', reject);
      child.on('exit', (code) => (code ? reject(new Error(`the child exited with ${code}`)) : undefined));
    });
  try {
    const csv = readFileSync(WINE_CSV_PATH, 'utf8');
    const [header, ...rest] = csv.trim().split('\n');
    const block = `${rest.join('\n')}\n`;
    console.log('size | rows | before: peak RSS, time | after: peak RSS, time  (child process; machine loaded)');
    for (const size of sizes) {
      const copies = Math.max(1, Math.round((size * 1024 * 1024) / Buffer.byteLength(block)));
      const body = Buffer.from(`${header}\n${block.repeat(copies)}`);
      await s3Objects(client).put(BUCKET, KEY, body, 'text/csv');
      const before = await runChild('before');
      const after = await runChild('after');
      if (before.rows !== after.rows) throw new Error(`before counted ${before.rows} rows, after ${after.rows}`);
      console.log(
        `${mb(body.byteLength)} | ${after.rows} | ${mb(before.maxRssKb * 1024)}, ${(before.ms / 1000).toFixed(1)} s | ` +
          `${mb(after.maxRssKb * 1024)}, ${(after.ms / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    athena.close();
    client.destroy();
    await server.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

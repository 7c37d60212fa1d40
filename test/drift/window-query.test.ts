/**
 * The window query on the local Athena engine (DuckDB) over the request log as the model server
 * writes it (the real RequestLogger and DirectorySink) and as the drift stack declares its Glue
 * table (read from the synthesized local template): the projection template puts deployment,
 * version and day on each row, and the counts equal those computed from the logged rows.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { Binding } from '../../lib/constructs/binding';
import { AthenaEngine, glueTableFromInput } from '../../lib/local/athena';
import { layout } from '../../lib/local/layout';
import { windowDays, windowQuery } from '../../lib/pipelines/drift-plan';
import { countValues, parseValueCounts, valueCountsQuery } from '../../lib/pipelines/value-counts';
import { DirectorySink, RequestLogger, REQUEST_LOG_PREFIX, requestLogDeploymentDir } from '../../lib/serving/request-log';
import { PREDICTION_FEATURE } from '../../lib/shared/operations';
import { DataLakeStack } from '../../stacks/data-lake-stack';
import { BatchInferenceStack } from '../../stacks/batch-inference-stack';
import { REQUEST_LOG_TABLE } from '../../stacks/drift-stack';
import { RegistryStack } from '../../stacks/registry-stack';
import { environmentStage } from '../stack-synth';

const FEATURES = ['alcohol', 'pH', 'fixed acidity'];
const config = resolveEnvironment('local', { env: {} });
const DATABASE = config.dataLake.glueDatabaseName;
let stateDir: string;
let athena: AthenaEngine;
let rawBucket: string;
const logged: { version: string; ts: number; x: number[]; y: number }[] = [];

/** The request log's table as the local stage's template declares it (in the lake's stack), buckets resolved to names. */
function requestLogTableInput(bucket: string): Record<string, unknown> {
  const app = new App({ context: { ...FEATURE_FLAGS } });
  const stage = environmentStage(app, config);
  const lakeStack = new DataLakeStack(stage, 'DataLake', { config });
  const { lake } = lakeStack;
  const registry = new RegistryStack(stage, 'Registry', { config, lake });
  new BatchInferenceStack(stage, 'BatchInference', { config, lake, eventBus: registry.eventBus, registry: Binding.of('https://r.example/', () => {}) });
  const [table] = Object.values(
    Template.fromStack(lakeStack).findResources('AWS::Glue::Table', { Properties: { TableInput: { Name: REQUEST_LOG_TABLE } } }),
  );
  // The bucket is the lake stack's own: stand in the local bucket's name for its Ref.
  const json = JSON.stringify(table!['Properties']['TableInput']);
  return JSON.parse(json.replace(/\{"Fn::Join":\["",\[("s3:\/\/",)?\{"Ref":"[^"]+"\},"([^"]*)"\]\]\}/g, (_m, _s3, tail: string) => `"s3://${bucket}${tail}"`));
}

async function log(deploymentDir: string, version: string, rows: { ts: number; x: number[]; y: number }[]) {
  const logger = new RequestLogger({
    sink: new DirectorySink(join(deploymentDir, requestLogDeploymentDir('wine-quality'))),
    model: { name: 'wine-quality', version, features: FEATURES },
  });
  for (const r of rows) {
    logger.push({ kind: 'prediction', ts: r.ts, protocol: 'seldon', requestId: 'r', rows: 1, x: Float64Array.from(r.x), y: Float64Array.of(r.y) });
    logged.push({ version, ...r });
  }
  logger.push({ kind: 'feedback', ts: rows[0]!.ts, requestId: 'r', reward: 1, truth: { x: 1 } });
  await logger.close();
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'mlops-drift-window-'));
  rawBucket = 'raw-bucket';
  const prefix = join(layout(stateDir).bucket(rawBucket), REQUEST_LOG_PREFIX);
  mkdirSync(layout(stateDir).bucket('results'), { recursive: true });
  const day = Date.parse('2026-12-01T00:00:00Z');
  const hour = 3600_000;
  // Two days of version 1, a line of version 2 in the same window, and one day outside it.
  const rows = (from: number, n: number, seed: number) =>
    Array.from({ length: n }, (_, i) => ({
      ts: from + (i % 20) * hour,
      x: [9 + ((i * seed) % 7) / 2, 3 + (i % 3) / 10, (i % 2) * 0.5 + 7],
      y: 5 + (i % 4) / 4,
    }));
  await log(prefix, '1', [...rows(day, 40, 3), ...rows(day + 24 * hour, 30, 5), ...rows(day + 72 * hour, 10, 7)]);
  await log(prefix, '2', rows(day, 5, 11));
  athena = await AthenaEngine.start({
    stateDir,
    catalog: {
      databases: [DATABASE],
      tables: [glueTableFromInput(DATABASE, requestLogTableInput(rawBucket))],
      workGroups: [{ name: 'wg', outputLocation: 's3://results/results/', enforce: true }],
    },
  });
}, 120_000);

afterAll(() => {
  athena?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

async function run(sql: string): Promise<string> {
  const { QueryExecutionId } = await athena.startQueryExecution({ QueryString: sql, WorkGroup: 'wg' });
  const done = await athena.waitForQuery(QueryExecutionId);
  expect(done.Status.StateChangeReason ?? '').toBe('');
  const { readFileSync } = await import('node:fs');
  return readFileSync(join(layout(stateDir).bucket('results'), 'results', `${QueryExecutionId}.csv`), 'utf8');
}

describe('the drift window query on the local Athena engine', () => {
  it('projects deployment, version and day from the directories', async () => {
    const csv = await run(
      `SELECT "deployment", "version", "dt", count(*) AS n FROM "${DATABASE}"."${REQUEST_LOG_TABLE}" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );
    expect(csv.trim().split('\n')).toEqual([
      '"deployment","version","dt","n"',
      '"wine-quality","1","2026-12-01","41"', // 40 predictions and a feedback line
      '"wine-quality","1","2026-12-02","30"',
      '"wine-quality","1","2026-12-04","10"',
      '"wine-quality","2","2026-12-01","6"',
    ]);
  });

  it("counts each feature's and the prediction's values of one version in the window, as the logged rows hold them", async () => {
    const start = new Date('2026-12-01T05:00:00Z');
    const end = new Date('2026-12-02T12:00:00Z');
    expect(windowDays(start, end)).toEqual(['2026-12-01', '2026-12-02']);
    const sql = windowQuery({ log: { database: DATABASE, table: REQUEST_LOG_TABLE }, deployment: 'wine-quality', version: '1', features: FEATURES, start, end });
    const counts = parseValueCounts(await run(sql), [...FEATURES, PREDICTION_FEATURE]);
    const inWindow = logged.filter((r) => r.version === '1' && r.ts >= start.getTime() && r.ts < end.getTime());
    expect(inWindow.length).toBeGreaterThan(20);
    FEATURES.forEach((f, j) => {
      const expected = countValues(inWindow.map((r) => r.x[j]!));
      expect(counts.get(f), f).toEqual(expected);
    });
    expect(counts.get(PREDICTION_FEATURE)).toEqual(countValues(inWindow.map((r) => r.y)));
  });

  it('answers an empty window with no values (not an error)', async () => {
    const sql = windowQuery({
      log: { database: DATABASE, table: REQUEST_LOG_TABLE },
      deployment: 'wine-quality',
      version: '1',
      features: FEATURES,
      start: new Date('2026-11-01T00:00:00Z'),
      end: new Date('2026-11-02T00:00:00Z'),
    });
    const counts = parseValueCounts(await run(sql), [...FEATURES, PREDICTION_FEATURE]);
    for (const c of counts.values()) expect(c).toEqual({ values: [], counts: [], missing: 0 });
  });

  it('tells a NULL value (a missing feature) from the other grouping sets', async () => {
    const sql = valueCountsQuery({
      from: '(SELECT * FROM (VALUES (1.0, NULL), (1.0, 2.0), (NULL, 2.0)) AS t("a", "b")) "t"',
      columns: [{ name: 'a', expr: '"a"' }, { name: 'b', expr: '"b"' }],
    });
    const counts = parseValueCounts(await run(sql), ['a', 'b']);
    expect(counts.get('a')).toEqual({ values: [1], counts: [2], missing: 1 });
    expect(counts.get('b')).toEqual({ values: [2], counts: [2], missing: 1 });
  });
});

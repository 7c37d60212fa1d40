/**
 * Incremental materialization end to end on the local platform (the kit's synthesized stage, its
 * bundled handlers, DuckDB behind Athena, dynalite, the Step Functions runner's Distributed Map,
 * the local S3): seed → materialize (the TTL window) → push newer rows offline through the
 * feature server's HTTP route → materialize again (only the window since the recorded end) →
 * the HTTP lookup answers the newest values. Then the failure paths: a failed run leaves the
 * recorded window (the next run redoes it), and a bad recorded window fails with a clear error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINE_FEATURE_NAMES } from '../../lib/features/wine';
import { formatLakeTimestamp } from '../../lib/features/values';
import { type LocalPlatform, startPlatform } from '../../lib/local/platform';
import { lakeBucket, seedLocalLake } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-materialize-'));
let platform: LocalPlatform;
let s3: S3Client;
let doc: DynamoDBDocumentClient;
let tableName: string;
const RECORD = { pk: 'MATERIALIZATION#wine_features' };

beforeAll(async () => {
  synthLocalStage(stateDir);
  platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  s3 = new S3Client({ endpoint: platform.info.s3Endpoint, region: platform.info.region, forcePathStyle: true, credentials });
  doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: platform.info.dynamodbEndpoint, region: platform.info.region, credentials }),
  );
  const table = platform.stage.resourcesOfType('AWS::DynamoDB::Table').find((r) => (r.constructPath ?? '').includes('FeatureStore'))!;
  tableName = platform.stage.physicalName(table);
  await seedLocalLake(platform.info, platform.stage, new Date());
}, 300_000);

afterAll(async () => {
  s3?.destroy();
  doc?.destroy();
  await platform?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

interface ViewResult {
  featureView: string;
  from: string;
  start: string;
  end: string;
  parts: number;
  rowsRead: number;
  written: number;
  windowRecorded: boolean;
  mapRunArn: string;
}

async function materialize(input: object = {}) {
  const { executionArn } = await platform.sfn.startExecution({
    stateMachineArn: platform.facts.stateMachine('materialization').arn,
    input: JSON.stringify(input),
  });
  const d = await platform.sfn.waitForExecution(executionArn);
  const out = d.output ? JSON.parse(d.output) : {};
  return { ...d, views: (out.views ?? []) as ViewResult[], upToDate: (out.upToDate ?? []) as string[] };
}

async function post(path: string, body: unknown) {
  const res = await fetch(`${platform.gatewayUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as any };
}

const recorded = async () => (await doc.send(new GetCommand({ TableName: tableName, Key: RECORD }))).Item;

async function alcoholOf(ids: number[]) {
  const got = await post('/get-online-features', { features: ['wine_features:alcohol'], entities: { wine_id: ids } });
  expect(got.status).toBe(200);
  return got.body.results[1] as { values: (number | null)[]; statuses: string[] };
}

/** Pushes rows to the offline store only, through the feature server, stamped `at`. */
async function pushOffline(rows: { wine_id: number; alcohol: number }[], at: Date) {
  const df: Record<string, unknown[]> = { wine_id: rows.map((r) => r.wine_id) };
  for (const f of WINE_FEATURE_NAMES) df[f] = rows.map((r) => (f === 'alcohol' ? r.alcohol : 1));
  df['event_timestamp'] = rows.map(() => at.toISOString());
  const res = await post('/push', { push_source_name: 'wine_push', df, to: 'offline' });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

describe('incremental materialization on the local platform', () => {
  it('materializes the TTL window first, then only the rows since the recorded window end', async () => {
    // act: the first run (no record: the TTL window)
    const first = await materialize();
    // assess
    expect(first.status, first.cause).toBe('SUCCEEDED');
    const [v1] = first.views;
    expect(v1).toMatchObject({ featureView: 'wine_features', from: 'ttl', rowsRead: 1599, written: 1599, windowRecorded: true });
    expect(v1!.parts).toBeGreaterThan(0);
    expect((await recorded())?.['window_end']).toBe(v1!.end);
    // The Distributed Map's ResultWriter manifest lists the workers' results.
    const runId = v1!.mapRunArn.split(':').pop()!;
    const manifest = await s3.send(
      new GetObjectCommand({ Bucket: lakeBucket(platform, 'curated'), Key: `materialize/results/${runId}/manifest.json` }),
    );
    expect(JSON.parse(await manifest.Body!.transformToString()).ResultFiles.SUCCEEDED).toHaveLength(1);

    // prepare: newer values for wine 1 and a new wine, offline only (the online store still has the old ones)
    const before = await alcoholOf([1, 5000]);
    expect(before.statuses).toEqual(['PRESENT', 'NOT_FOUND']);
    await pushOffline([{ wine_id: 1, alcohol: 14.5 }, { wine_id: 5000, alcohol: 8.25 }], new Date());
    expect(await alcoholOf([1, 5000])).toEqual(before);

    // act: the second run
    const second = await materialize();

    // assess: only the new window's rows (the two pushed), from the first run's end
    expect(second.status, second.cause).toBe('SUCCEEDED');
    expect(second.views[0]).toMatchObject({ from: 'recorded', start: v1!.end, rowsRead: 2, written: 2, windowRecorded: true });
    expect(await alcoholOf([1, 5000])).toEqual({
      values: [14.5, 8.25],
      statuses: ['PRESENT', 'PRESENT'],
      event_timestamps: expect.any(Array),
    });
    expect((await recorded())?.['window_end']).toBe(second.views[0]!.end);
  }, 300_000);

  it('fails a run on a bad row without recording its window, and the next run redoes that window', async () => {
    // prepare: a row with no join key in today's push partition (a writer outside the kit)
    const before = (await recorded())!;
    const key = `features/wine_features_push/dt=${new Date().toISOString().slice(0, 10)}/zz-bad.json`;
    const bad = { ...Object.fromEntries(WINE_FEATURE_NAMES.map((f) => [f, 1])), event_timestamp: formatLakeTimestamp(Date.now()) };
    await s3.send(new PutObjectCommand({ Bucket: lakeBucket(platform, 'curated'), Key: key, Body: `${JSON.stringify(bad)}\n` }));
    await pushOffline([{ wine_id: 2, alcohol: 13 }], new Date());

    // act
    const failed = await materialize();

    // assess: the run fails, its Map Run's FAILED file names the row, and the recorded window is the previous run's
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toBe('States.ExceedToleratedFailureThreshold');
    const curated = lakeBucket(platform, 'curated');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: curated, Prefix: 'materialize/results/' }));
    const failedFiles = (listed.Contents ?? []).filter((o) => o.Key!.endsWith('FAILED_0.json'));
    expect(failedFiles).toHaveLength(1);
    const body = await (await s3.send(new GetObjectCommand({ Bucket: curated, Key: failedFiles[0]!.Key! }))).Body!.transformToString();
    expect(body).toMatch(/MaterializeDataError.*join key wine_id is missing or null/);
    expect((await recorded())?.['window_end']).toBe(before['window_end']);
    expect((await alcoholOf([2])).values[0]).not.toBe(13);

    // act: the bad object removed, the next run redoes the failed run's window
    await s3.send(new DeleteObjectCommand({ Bucket: lakeBucket(platform, 'curated'), Key: key }));
    const redo = await materialize();
    expect(redo.status, redo.cause).toBe('SUCCEEDED');
    expect(redo.views[0]).toMatchObject({ from: 'recorded', start: before['window_end'], rowsRead: 1, windowRecorded: true });
    expect((await alcoholOf([2])).values[0]).toBe(13);
  }, 300_000);

  it('fails with InvalidMaterializationState when the recorded window is unusable, writing nothing', async () => {
    const good = (await recorded())!;
    await doc.send(new PutCommand({ TableName: tableName, Item: { ...good, window_end: 42 } }));
    try {
      const run = await materialize();
      expect(run.status).toBe('FAILED');
      expect(run.error).toBe('InvalidMaterializationState');
      expect(run.cause).toMatch(/the recorded window of wine_features .* window_end 42 is not an ISO 8601 time/);
      expect((await recorded())?.['window_end']).toBe(42);
    } finally {
      await doc.send(new PutCommand({ TableName: tableName, Item: good }));
    }
  }, 300_000);

  it.each([
    ['a malformed input', { start: 'soon' }, /start must be an ISO 8601 timestamp/],
    ['a wrong-typed featureView', { featureView: 3 }, /featureView/],
    ['an unknown key', { stat: '2024-01-01T00:00:00Z' }, /Unrecognized key/],
    ['an oversized featureView', { featureView: 'x'.repeat(50_000) }, /featureView must be one of wine_features/],
  ])('rejects %s with InvalidMaterializationInput before anything runs', async (_, input, cause) => {
    const run = await materialize(input);
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('InvalidMaterializationInput');
    expect(run.cause).toMatch(cause);
  }, 120_000);

  it('plans nothing once the record reaches the end, and starts over from the TTL when the record is deleted', async () => {
    const good = (await recorded())!;
    const ahead = await materialize({ end: good['window_end'] });
    expect(ahead.status, ahead.cause).toBe('SUCCEEDED');
    expect(ahead.views).toEqual([]);
    expect(ahead.upToDate).toEqual(['wine_features']);

    await doc.send(new DeleteCommand({ TableName: tableName, Key: RECORD }));
    const again = await materialize();
    expect(again.status, again.cause).toBe('SUCCEEDED');
    // The seeded 1,599 wines and the pushed new wine 5000, one row per entity.
    expect(again.views[0]).toMatchObject({ from: 'ttl', rowsRead: 1600 });
  }, 300_000);

  it('succeeds when the Unload is retried after its query wrote every part, writing the parts of one attempt only', async () => {
    // prepare: the next Unload's .sync wait fails once (Athena.InternalServerException) after the query wrote its parts
    await doc.send(new DeleteCommand({ TableName: tableName, Key: RECORD }));
    const athena = platform.athena;
    const wait = athena.waitForQuery;
    const faulted: string[] = [];
    athena.waitForQuery = async (id: string) => {
      const done = await wait.call(athena, id);
      const target = /\) TO '([^']+\/materialize\/unload\/[^']+\/attempt-0-0\/)' WITH/s.exec(done.Query)?.[1];
      if (target && faulted.length === 0 && done.Status.State === 'SUCCEEDED') {
        faulted.push(target);
        throw Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalServerException' });
      }
      return done;
    };
    try {
      // act
      const retried = await materialize();
      // assess: every entity read once (1,600, as a run without the fault), from the retry's folder only
      expect(retried.status, retried.cause).toBe('SUCCEEDED');
      expect(faulted).toHaveLength(1);
      expect(retried.views[0]).toMatchObject({ from: 'ttl', rowsRead: 1600, written: 1600, windowRecorded: true });
      const prefix = faulted[0]!.replace(/^s3:\/\/[^/]+\//, '').replace(/attempt-0-0\/$/, '');
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: lakeBucket(platform, 'curated'), Prefix: prefix }));
      const folders = (listed.Contents ?? []).map((o) => o.Key!.slice(prefix.length).split('/')[0]);
      expect([...new Set(folders)].sort()).toEqual(['attempt-0-0', 'attempt-0-1']);
      expect(retried.views[0]!.parts).toBe(folders.filter((f) => f === 'attempt-0-1').length);
    } finally {
      athena.waitForQuery = wait;
    }
  }, 300_000);
});

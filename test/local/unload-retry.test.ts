/**
 * A retried UNLOAD on the real local stage, through the doors. Athena refuses an UNLOAD into a
 * location that holds anything (the local engine too: test/local/athena), and a step Step Functions
 * retries runs its UNLOAD again. The fault: the service fails the `.sync` wait of "Build features"
 * and of "Export training split" once, with `Athena.InternalServerException`, AFTER the query wrote
 * every part (what AWS does when GetQueryExecution fails while polling). The machine's retry runs
 * each UNLOAD again; the execution must SUCCEED, and "Stage training data" must copy the parts of
 * the attempt that succeeded only, never the first attempt's.
 *
 * The execution is started, read and its history fetched with the AWS SDK's Step Functions client,
 * the objects listed with its S3 client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalPlatform, startPlatform } from '../../lib/local/platform';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { parseS3Uri } from '../../lib/shared/s3-uri';
import { copyTrainedState } from './trained-state';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-unload-retry-'));
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
let platform: LocalPlatform;
let sfn: SFNClient;
let s3: S3Client;
/** The UNLOADs whose first wait failed, by the folder they wrote. */
const faulted: string[] = [];

beforeAll(async () => {
  await copyTrainedState(stateDir);
  synthLocalStage(stateDir);
  platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });
  // The fault: the query ran and wrote all its parts, then the service fails the wait, once per UNLOAD.
  const athena = platform.athena;
  const wait = athena.waitForQuery.bind(athena);
  athena.waitForQuery = async (id: string) => {
    const done = await wait(id);
    const target = /^UNLOAD \(.*\) TO '([^']+)' WITH/s.exec(done.Query)?.[1];
    const first = target && /\/(features\/[^']*|splits\/[^']*\/train\/)attempt-0-0\/$/.test(target);
    if (first && done.Status.State === 'SUCCEEDED') {
      faulted.push(target);
      throw Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalServerException' });
    }
    return done;
  };
  const endpoint = platform.info.awsEndpoint;
  sfn = new SFNClient({ endpoint, region: platform.info.region, credentials });
  s3 = new S3Client({ endpoint: platform.info.s3Endpoint, region: platform.info.region, credentials, forcePathStyle: true });
}, 300_000);

afterAll(async () => {
  sfn?.destroy();
  s3?.destroy();
  await platform?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const keysUnder = async (uri: string) => {
  const { bucket, key } = parseS3Uri(uri)!;
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key }));
  return (out.Contents ?? []).map((o) => o.Key!.slice(key.length)).sort();
};

describe('a retried UNLOAD (the wait fails after the query wrote its parts)', () => {
  it('succeeds, each attempt in its own folder, and stages only the parts of the attempt that succeeded', async () => {
    // act
    const training = platform.sfn.machines.find((m) => m.stackName.includes('TrainingPipeline'))!;
    const input = { dataset: 'winequality_red_raw', target: 'quality', model_name: 'wine-quality-retried' };
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: training.arn, name: 'unload-retry-1', input: JSON.stringify(input) }),
    );
    let described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    for (let i = 0; i < 1200 && described.status === 'RUNNING'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    }
    // assess: the execution succeeded after one failed wait of each faulted UNLOAD
    expect(described.status, described.cause).toBe('SUCCEEDED');
    expect(faulted).toHaveLength(2);
    const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    const failedTasks = events.filter((e) => e.type === 'TaskFailed').map((e) => e.taskFailedEventDetails?.error);
    expect(failedTasks).toEqual(['Athena.InternalServerException', 'Athena.InternalServerException']);
    const out = JSON.parse(described.output!) as {
      plan: { rows: number; locations: { features: string; splits: { train: string; holdout: string } } };
      features: { attempt: string };
      exports: { train: { attempt: string }; holdout: { attempt: string } };
      staged: { train: string; train_rows: number; holdout_rows: number; train_parts: number };
      registration: { version: string };
    };
    expect([out.features.attempt, out.exports.train.attempt, out.exports.holdout.attempt]).toEqual(['attempt-0-1', 'attempt-0-1', 'attempt-0-0']);
    // both attempts' parts are in the lake (Athena deletes nothing), each in its own folder
    const { splits } = out.plan.locations;
    const trainKeys = await keysUnder(splits.train);
    const firstParts = trainKeys.filter((k) => k.startsWith('attempt-0-0/'));
    const retryParts = trainKeys.filter((k) => k.startsWith('attempt-0-1/'));
    expect(firstParts.length).toBeGreaterThan(0);
    expect(retryParts.length).toBeGreaterThan(0);
    expect(firstParts.length + retryParts.length).toBe(trainKeys.length);
    expect((await keysUnder(out.plan.locations.features)).map((k) => k.split('/')[0])).toEqual(
      expect.arrayContaining(['attempt-0-0', 'attempt-0-1']),
    );
    expect(faulted).toEqual(expect.arrayContaining([`${splits.train}attempt-0-0/`, `${out.plan.locations.features}attempt-0-0/`]));
    // the staged channel holds one attempt's parts: every validated row once, none twice
    expect(out.staged.train_parts).toBe(retryParts.length);
    expect(await keysUnder(out.staged.train)).toHaveLength(retryParts.length);
    expect(out.staged.train_rows + out.staged.holdout_rows).toBe(out.plan.rows);
    expect(out.plan.rows).toBe(1599);
    expect(out.registration.version).toBe('1');
  }, 300_000);
});

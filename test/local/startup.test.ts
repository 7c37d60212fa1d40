/**
 * `npm start` end to end on the real local stage: seed → training pipeline → register → promote →
 * serve, predictions in both protocols, then the training pipeline's failure paths (nothing
 * registered) and batch inference, all on the local engines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalPlatform, startPlatform } from '../../lib/local/platform';
import { lakeBucket, runStartup, type StartupStep } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { WINE_FEATURE_NAMES } from '../../lib/features/wine';
import { DEFAULT_SCHEDULED_INPUT } from '../../stacks/training-pipeline-stack';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-startup-'));
let platform: LocalPlatform;
let steps: StartupStep[];
const ROW = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];

// No trainingRunner: the platform's default (the kit's trainer as a local process) is what a
// transient `mlops run training` gets too.
const start = () => startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });

async function post(path: string, body: unknown) {
  const res = await fetch(`${platform.gatewayUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text(); // Feast answers /push with an empty 200
  return { status: res.status, body: (text ? JSON.parse(text) : null) as any };
}

async function latestVersions(): Promise<string[]> {
  const res = await fetch(`${platform.gatewayUrl}/api/2.0/mlflow/registered-models/get-latest-versions?name=wine-quality`);
  const body = (await res.json()) as { model_versions?: { version: string }[] };
  return (body.model_versions ?? []).map((v) => v.version).sort();
}

async function runTraining(input: object) {
  const machine = platform.sfn.machines.find((m) => m.stackName.includes('TrainingPipeline'))!;
  const { executionArn } = await platform.sfn.startExecution({ stateMachineArn: machine.arn, input: JSON.stringify(input) });
  return platform.sfn.waitForExecution(executionArn);
}

beforeAll(async () => {
  synthLocalStage(stateDir);
  platform = await start();
  steps = await runStartup(platform);
}, 300_000);

afterAll(async () => {
  await platform?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('npm start on the local stage', () => {
  it('seeds, trains, registers, promotes and serves wine-quality', async () => {
    expect(steps.map((s) => s.name)).toEqual(['seed example data', 'training pipeline', 'promote']);
    expect(await latestVersions()).toEqual(['1']);
    expect(platform.serving.deployments).toMatchObject([{ namespace: 'seldon', deployment: 'wine-quality', version: '1' }]);
  });

  it('answers the Seldon v1 prediction and the same value through OIP v2', async () => {
    const seldon = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [ROW] } });
    expect(seldon.status).toBe(200);
    const [y] = seldon.body.data.ndarray as number[];
    // The trained model predicts wine quality: a score in the data's range (3..8), near the mean.
    expect(y).toBeGreaterThan(4);
    expect(y).toBeLessThan(7);
    const oip = await post('/v2/models/wine-quality/infer', {
      inputs: [{ name: 'input-0', shape: [1, 11], datatype: 'FP64', data: ROW }],
    });
    expect(oip.status).toBe(200);
    expect(oip.body.outputs[0].data[0]).toBe(y);
    const bad = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [[1, 2]] } });
    expect(bad.status).toBe(400);
    expect(bad.body.status.status).toBe('FAILURE');
  });

  it.each([
    ['the gate rejects the model', { ...DEFAULT_SCHEDULED_INPUT, thresholds: { max_rmse: 0.01 } }, 'ModelRejected'],
    ['the hyperparameters are invalid', { ...DEFAULT_SCHEDULED_INPUT, hyperparameters: { alpha: -1 } }, /./],
    ['the dataset does not exist', { ...DEFAULT_SCHEDULED_INPUT, dataset: 'no_such_table' }, /./],
    ['the input is malformed', { target: 42 }, /./],
  ])('fails and registers nothing when %s', async (_, input, error) => {
    const d = await runTraining(input);
    expect(d.status).toBe('FAILED');
    expect(d.error).toMatch(error);
    expect(await latestVersions()).toEqual(['1']);
  });

  it('runs batch inference over a lake table into Parquet', async () => {
    const curated = lakeBucket(platform, 'Curated');
    const champion = platform.serving.deployments[0]!;
    const machine = platform.sfn.machines.find((m) => m.stackName.includes('BatchInference'))!;
    const { executionArn } = await platform.sfn.startExecution({
      stateMachineArn: machine.arn,
      input: JSON.stringify({
        model: { uri: champion.modelUri },
        input: { table: 'winequality_red_raw' },
        output: `s3://${curated}/predictions/wine/`,
      }),
    });
    const d = await platform.sfn.waitForExecution(executionArn);
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const listed = await platform.store.list(curated, { prefix: 'predictions/wine/' });
    expect(listed.contents.some((o) => o.key.endsWith('.parquet'))).toBe(true);
  });

  it('pushes wine rows through /push and reads them back with Feast statuses', async () => {
    const now = new Date();
    const old = new Date(now.getTime() - 400 * 86_400_000); // beyond wine_features' 365-day TTL
    const df: Record<string, unknown[]> = {
      wine_id: [1, 2, 3],
      event_timestamp: [now.toISOString(), now.toISOString(), old.toISOString()],
      created: [now.toISOString(), now.toISOString(), now.toISOString()],
    };
    WINE_FEATURE_NAMES.forEach((f, i) => {
      df[f] = [ROW[i], ROW[i]! + 1, ROW[i]];
    });
    const pushed = await post('/push', { push_source_name: 'wine_push', df, to: 'online_and_offline' });
    expect(pushed.status).toBe(200);
    const got = await post('/get-online-features', { feature_service: 'wine_quality_v1', entities: { wine_id: [1, 3, 999] } });
    expect(got.status).toBe(200);
    const alcohol = got.body.metadata.feature_names.indexOf('alcohol');
    expect(got.body.results[alcohol].values[0]).toBe(9.4);
    expect(got.body.results[alcohol].statuses).toEqual(['PRESENT', 'OUTSIDE_MAX_AGE', 'NOT_FOUND']);
    const bad = await post('/push', { push_source_name: 'nope', df: { wine_id: [1] }, to: 'online' });
    expect(bad.status).toBe(422);
  });

  it('materializes the offline pushes into the online store through the platform', async () => {
    const machine = platform.sfn.machines.find((m) => m.stackName.includes('FeatureStore'))!;
    const { executionArn } = await platform.sfn.startExecution({ stateMachineArn: machine.arn, input: '{}' });
    const d = await platform.sfn.waitForExecution(executionArn);
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const out = JSON.parse(d.output!);
    const wine = out.views.find((v: { featureView: string }) => v.featureView === 'wine_features');
    expect(wine.rowsRead).toBeGreaterThanOrEqual(2); // the two in-TTL pushed rows, from the offline push table
  });

  it('reuses the registered model on the next start', async () => {
    await platform.close();
    platform = await start();
    const again = await runStartup(platform);
    expect(again.map((s) => s.name)).toEqual(['seed example data', 'serve champion']);
    const seldon = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [ROW] } });
    expect(seldon.status).toBe(200);
  });
});

/**
 * The retraining trigger and the outbox schedule on the real local stage, through the doors: a
 * `DriftDetected` event put on the platform bus with the AWS SDK's EventBridge client starts the
 * training pipeline (local `pipelines.retraining` is `auto`) with the report's URI in its input,
 * and the registered version's run carries it in its tags; an event for another model or of
 * another type starts nothing; the registry's outbox flush runs as a scheduled Lambda.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalPlatform, startPlatform } from '../../lib/local/platform';
import { runStartup } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { TRIGGER_TAGS } from '../../lib/pipelines/register';
import { DRIFT_EVENT, type DriftDetectedDetail } from '../../lib/shared/operations';
import { copyTrainedState } from './trained-state';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-retrain-'));
let platform: LocalPlatform;
let client: EventBridgeClient;

beforeAll(async () => {
  // The run's first start (seeded, wine-quality v1 trained); start-up on it only serves the champion.
  await copyTrainedState(stateDir);
  synthLocalStage(stateDir);
  platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });
  await runStartup(platform);
  client = new EventBridgeClient({
    endpoint: platform.info.awsEndpoint,
    region: platform.info.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}, 300_000);

afterAll(async () => {
  client?.destroy();
  await platform?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const training = () => platform.sfn.machines.find((m) => m.stackName.includes('TrainingPipeline'))!;
const executions = () => platform.sfn.listExecutions({ stateMachineArn: training().arn }).executions;
const bus = () => platform.facts.serving().eventBusName;

function drift(model: string, reportUri: string): DriftDetectedDetail {
  return {
    environment: 'local',
    model,
    modelVersion: '1',
    windowStart: '2026-12-01T00:00:00Z',
    windowEnd: '2026-12-02T00:00:00Z',
    driftShare: 0.6,
    driftedFeatures: ['alcohol'],
    reportUri,
    htmlReportUri: reportUri.replace(/\.json$/, '.html'),
  };
}

async function put(detailType: string, source: string, detail: object) {
  const out = await client.send(
    new PutEventsCommand({ Entries: [{ EventBusName: bus(), Source: source, DetailType: detailType, Detail: JSON.stringify(detail) }] }),
  );
  expect(out.FailedEntryCount).toBe(0);
  await platform.events.settled();
  return out.Entries![0]!.EventId!;
}

describe('retraining on drift (local: auto)', () => {
  it('ignores drift of a model the pipeline does not train, and other events', async () => {
    const before = executions().length;
    await put(DRIFT_EVENT.detailType, DRIFT_EVENT.source, drift('other-model', 's3://curated/drift/other/report.json'));
    await put('SomethingElse', DRIFT_EVENT.source, drift('wine-quality', 's3://curated/drift/x/report.json'));
    expect(executions().length).toBe(before);
  });

  it('starts the training pipeline with the report in its input, and the registered run carries it', async () => {
    // prepare
    const before = new Set(executions().map((e) => e.executionArn));
    const reportUri = 's3://mlops-curated/drift/wine-quality/2026-12-02/report.json';
    // act
    const eventId = await put(DRIFT_EVENT.detailType, DRIFT_EVENT.source, drift('wine-quality', reportUri));
    // assess: one new execution, with the scheduled input plus the trigger
    const started = executions().filter((e) => !before.has(e.executionArn));
    expect(started).toHaveLength(1);
    const done = await platform.sfn.waitForExecution(started[0]!.executionArn);
    const input = JSON.parse(done.input!) as Record<string, unknown>;
    expect(input['trigger']).toEqual({ reason: DRIFT_EVENT.detailType, report_uri: reportUri, event_id: eventId });
    expect(input['model_name']).toBe('wine-quality');
    expect(done.status, done.cause).toBe('SUCCEEDED');
    // the run that "Register model" recorded names the report (MLflow REST through the gateway)
    const runId = (JSON.parse(done.output!) as { registration: { run_id: string } }).registration.run_id;
    const res = await fetch(`${platform.gatewayUrl}/api/2.0/mlflow/runs/get?run_id=${runId}`);
    const tags = ((await res.json()) as { run: { data: { tags: { key: string; value: string }[] } } }).run.data.tags;
    expect(tags).toEqual(
      expect.arrayContaining([
        { key: TRIGGER_TAGS.reason, value: DRIFT_EVENT.detailType },
        { key: TRIGGER_TAGS.reportUri, value: reportUri },
        { key: TRIGGER_TAGS.eventId, value: eventId },
      ]),
    );
  }, 300_000);
});

describe('the registry outbox flush (local schedule)', () => {
  it('is one of the local schedules and runs the flush function', async () => {
    const flush = platform.scheduler.schedules.find((s) => s.name.includes('OutboxFlush'));
    expect(flush?.periodMs).toBe(5 * 60_000);
    const result = (await platform.scheduler.fire(flush!)) as { payload?: unknown; functionError?: string };
    expect(result.functionError).toBeUndefined();
    expect(result.payload).toEqual({ sent: {} });
  });
});

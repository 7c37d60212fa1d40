/**
 * `npm start` end to end on the real local stage: seed → training pipeline → register → promote →
 * serve, predictions in both protocols, then the seeded lake tables through Athena and
 * materialization, the training pipeline's failure paths (nothing registered), batch inference
 * and Feast pushes, all on the local engines.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AthenaClient, InvalidRequestException, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DescribeTrainingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINE_CSV_PATH } from '../../lib/datasets/wine';
import { type LocalPlatform, startPlatform } from '../../lib/local/platform';
import { lakeBucket, runStartup, type StartupStep } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { runMlops } from './mlops-cli';
import { WINE_FEATURE_NAMES } from '../../lib/features/wine';
import { lambdaLookahead } from '../../lib/local/sfn';
import { DEFAULT_SCHEDULED_INPUT, TRAINING_STATES } from '../../stacks/training-pipeline-stack';
import { parquetBytes, parquetRowGroups } from '../../lib/trainer/parquet-rows';

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

const mlops = (...argv: string[]) => runMlops(stateDir, ...argv);

async function runMaterialization() {
  const machine = platform.sfn.machines.find((m) => m.stackName.includes('FeatureStore'))!;
  const { executionArn } = await platform.sfn.startExecution({ stateMachineArn: machine.arn, input: '{}' });
  return platform.sfn.waitForExecution(executionArn);
}

/** The first data row of the bundled CSV: wine_id 1's measurements (and its quality last). */
const CSV_ROW_1 = readFileSync(WINE_CSV_PATH, 'utf8').split('\n')[1]!.split(';').map(Number);

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
    expect(steps.map((s) => s.name)).toEqual([
      'seed example data',
      'materialize features',
      'training pipeline',
      'promote',
    ]);
    expect(steps[1]!.outcome).toMatch(/^wine_features 1599 rows → online store by execution startup-materialize-\d+$/);
    // Materialization (the online store) and training (from the lake) are independent: they overlap.
    const [, materialize, training] = steps;
    expect(training!.startMs).toBeLessThan(materialize!.startMs + materialize!.ms);
    expect(steps[0]!.outcome).toBe('created winequality-red.csv, wine-labels.csv, wine-features-seed.parquet');
    expect(await latestVersions()).toEqual(['1']);
    expect(platform.serving.deployments).toMatchObject([{ namespace: 'seldon', deployment: 'wine-quality', version: '1' }]);
  });

  it('looks two Lambda steps ahead on the synthesized training definition (the workers the platform starts early)', () => {
    const machine = platform.sfn.machines.find((m) => m.stackName.includes('TrainingPipeline'))!;
    const ahead = lambdaLookahead(machine.definition);
    const short = (state: string) => (ahead.get(state) ?? []).map((f) => /-(\w+?function)[0-9a-f]{8}$/.exec(f)?.[1] ?? f).sort();
    expect(short(TRAINING_STATES.validate)).toEqual(['evaluatefunction', 'stagefunction']);
    expect(short(TRAINING_STATES.stage)).toEqual(['baselinefunction', 'evaluatefunction']);
    expect(short(TRAINING_STATES.evaluate)).toEqual(['baselinefunction', 'registerfunction']);
    expect(short(TRAINING_STATES.baseline)).toEqual(['registerfunction']);
    expect(short(TRAINING_STATES.register)).toEqual([]);
    // The early worker is the one the invocation used: no second one was started.
    for (const f of ahead.get(TRAINING_STATES.validate)!) expect(platform.lambda.workerCount(f)).toBe(1);
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

  it('catalogs the seeded labels and batch features, one row per wine at the same instant (mlops query)', async () => {
    platform.publish(); // the CLI finds this platform through runtime.json
    const q = await mlops(
      'query',
      'SELECT count(*) AS n, min(l.wine_id) AS lo, max(l.wine_id) AS hi, ' +
        '(SELECT count(*) FROM wine_features) AS features, (SELECT count(*) FROM wine_labels) AS labels ' +
        'FROM wine_labels l JOIN wine_features f ON f.wine_id = l.wine_id AND f.event_timestamp = l.event_timestamp',
      '--json',
    );
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout)).toEqual([{ n: '1599', lo: '1', hi: '1599', features: '1599', labels: '1599' }]);
    const first = await mlops('query', 'SELECT quality FROM wine_labels WHERE wine_id = 1', '--json');
    expect(JSON.parse(first.stdout)).toEqual([{ quality: String(CSV_ROW_1.at(-1)) }]);
  });

  it('`mlops seed` on the running platform finds everything already present', async () => {
    const r = await mlops('seed', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((o: { outcome: string }) => o.outcome)).toEqual(['present', 'present', 'present']);
  });

  it("`mlops jobs` and `mlops logs --latest` show start-up's training job and its trainer output (the README's examples)", async () => {
    platform.publish();
    const jobs = await mlops('jobs', '--json');
    expect(jobs.code, jobs.stderr).toBe(0);
    expect(JSON.parse(jobs.stdout)).toEqual([
      expect.objectContaining({ name: expect.stringMatching(/^train-startup-\d+$/), status: 'Completed' }),
    ]);
    const log = await mlops('logs', '--latest');
    expect(log.code, log.stderr).toBe(0);
    expect(log.stdout).toMatch(/validation_rmse=[-+0-9.eE]+;/);
  });

  it('serves wine 1 from the online store after start-up materialized the seeded wine_features', async () => {
    const lookup = () =>
      post('/get-online-features', { feature_service: 'wine_quality_v1', entities: { wine_id: [1, 99999] } });
    const expectWine1 = async () => {
      const got = await lookup();
      expect(got.status).toBe(200);
      const names: string[] = got.body.metadata.feature_names;
      WINE_FEATURE_NAMES.forEach((f, i) => {
        const result = got.body.results[names.indexOf(f)];
        expect(result.statuses, f).toEqual(['PRESENT', 'NOT_FOUND']);
        // The batch table's columns are Glue `float`: each value is CSV row 1's, rounded to float32.
        expect(Math.fround(result.values[0]), f).toBe(Math.fround(CSV_ROW_1[i]!));
      });
    };
    await expectWine1(); // start-up's materialization
    // act: the machine again, as `mlops run materialize` would
    const d = await runMaterialization();
    // assess
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const wine = JSON.parse(d.output!).views.find((v: { featureView: string }) => v.featureView === 'wine_features');
    // Incremental: from start-up's recorded window end, where nothing new has landed yet.
    expect(wine).toMatchObject({ from: 'recorded', rowsRead: 0 });
    await expectWine1();
  });

  it.each([
    ['the gate rejects the model', { ...DEFAULT_SCHEDULED_INPUT, thresholds: { max_rmse: 0.01 } }, 'ModelRejected'],
    ['the hyperparameters are invalid', { ...DEFAULT_SCHEDULED_INPUT, hyperparameters: { alpha: -1 } }, /./],
    ['the dataset does not exist', { ...DEFAULT_SCHEDULED_INPUT, dataset: 'no_such_table' }, /./],
    ['the input is malformed', { target: 42 }, /./],
    [
      'the input asks for more training instances than local allows',
      { ...DEFAULT_SCHEDULED_INPUT, instance_count: 2 },
      /./,
      'instance_count must be at most 1 in this environment, but 2 was provided',
    ],
  ])('fails and registers nothing when %s', async (_, input, error, cause?: string) => {
    const d = await runTraining(input);
    expect(d.status).toBe('FAILED');
    expect(d.error).toMatch(error);
    if (cause) expect(d.cause).toContain(cause);
    expect(await latestVersions()).toEqual(['1']);
  });

  it('runs batch inference over a lake table into Parquet: the SQL path (one UNLOAD) and the Distributed Map give the same doubles', async () => {
    const curated = lakeBucket(platform, 'curated');
    const champion = platform.serving.deployments[0]!;
    const machine = platform.sfn.machines.find((m) => m.stackName.includes('BatchInference'))!;
    const run = async (output: string, engine?: string) => {
      const { executionArn } = await platform.sfn.startExecution({
        stateMachineArn: machine.arn,
        input: JSON.stringify({
          model: { uri: champion.modelUri },
          input: { table: 'winequality_red_raw' },
          output: `s3://${curated}/${output}`,
          ...(engine !== undefined && { engine }),
        }),
      });
      return platform.sfn.waitForExecution(executionArn);
    };
    const predictions = async (prefix: string) => {
      const listed = await platform.store.list(curated, { prefix });
      const out: number[] = [];
      for (const o of listed.contents.filter((c) => c.key.endsWith('.parquet'))) {
        const body = await platform.store.getBytes(curated, o.key);
        for await (const group of parquetRowGroups(parquetBytes(body), o.key)) {
          const at = group.header.indexOf('prediction');
          out.push(...group.rows.map((r) => Number(r[at])));
        }
      }
      return out.sort((a, b) => a - b);
    };
    // act
    const sql = await run('predictions/wine/');
    const lambda = await run('predictions/wine-lambda/', 'lambda');
    // assess: auto chose SQL for the table; both paths predict all 1,599 rows to the same doubles
    expect(sql.status, sql.cause).toBe('SUCCEEDED');
    expect(lambda.status, lambda.cause).toBe('SUCCEEDED');
    expect(JSON.parse(sql.output!).summary).toMatchObject({ engine: 'sql', rows: 1599 });
    expect(JSON.parse(lambda.output!).summary).toMatchObject({ engine: 'lambda' });
    // each names the folder its UNLOAD's (first) attempt wrote
    for (const [d, output] of [[sql, 'predictions/wine/'], [lambda, 'predictions/wine-lambda/']] as const) {
      expect(JSON.parse(d.output!).summary.output_location).toMatch(new RegExp(`^s3://${curated}/${output}[^/]+/attempt-0-0/$`));
    }
    const fromSql = await predictions('predictions/wine/');
    expect(fromSql).toHaveLength(1599);
    expect(fromSql).toEqual(await predictions('predictions/wine-lambda/'));
  });

  it('fails a SQL-path batch over a table with an incomplete row before writing anything', async () => {
    // prepare: one more object in the table's prefix, a row without alcohol
    const raw = lakeBucket(platform, 'raw');
    const curated = lakeBucket(platform, 'curated');
    const [header] = readFileSync(WINE_CSV_PATH, 'utf8').split('\n');
    const key = 'datasets/winequality-red/zz-incomplete.csv';
    await platform.store.put(raw, key, `${header}\n7.4;0.7;0;1.9;0.076;11;34;0.9978;3.51;0.56;;5\n`);
    try {
      const machine = platform.sfn.machines.find((m) => m.stackName.includes('BatchInference'))!;
      // act
      const { executionArn } = await platform.sfn.startExecution({
        stateMachineArn: machine.arn,
        input: JSON.stringify({
          model: { uri: platform.serving.deployments[0]!.modelUri },
          input: { table: 'winequality_red_raw' },
          output: `s3://${curated}/predictions/incomplete/`,
          engine: 'sql',
        }),
      });
      const d = await platform.sfn.waitForExecution(executionArn);
      // assess
      expect(d.status).toBe('FAILED');
      expect(d.error).toBe('DataValidationError');
      expect(d.cause).toBe(
        '1 of the 1600 rows of table winequality_red_raw lack a numeric value for a model feature; the SQL path writes nothing unless every row is complete (engine lambda names each failing object and row)',
      );
      expect((await platform.store.list(curated, { prefix: 'predictions/incomplete/' })).contents).toEqual([]);
    } finally {
      await platform.store.delete(raw, key);
    }
  });

  it('runs batch inference as a Distributed Map over 50 objects under a prefix: every row predicted once, the Map Run results written (AWS SDK v3)', async () => {
    // prepare: 150 rows of the wine CSV as 50 objects of 3 rows, and a _SUCCESS marker the run skips
    const raw = lakeBucket(platform, 'raw');
    const curated = lakeBucket(platform, 'curated');
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    const region = platform.info.region;
    const s3 = new S3Client({ endpoint: platform.info.s3Endpoint, region, credentials, forcePathStyle: true });
    const sfn = new SFNClient({ endpoint: platform.info.awsEndpoint, region, credentials });
    const [header, ...rows] = readFileSync(WINE_CSV_PATH, 'utf8').split('\n');
    for (let i = 0; i < 50; i++) {
      const body = `${header}\n${rows.slice(i * 3, i * 3 + 3).join('\n')}\n`;
      await s3.send(new PutObjectCommand({ Bucket: raw, Key: `batch-e2e/part-${i}.csv`, Body: body }));
    }
    await s3.send(new PutObjectCommand({ Bucket: raw, Key: 'batch-e2e/_SUCCESS', Body: '' }));
    const machine = platform.sfn.machines.find((m) => m.stackName.includes('BatchInference'))!;
    // act
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machine.arn,
        input: JSON.stringify({
          model: { uri: platform.serving.deployments[0]!.modelUri },
          input: { prefix: `s3://${raw}/batch-e2e/` },
          output: `s3://${curated}/predictions/e2e/`,
        }),
      }),
    );
    let d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    for (const until = Date.now() + 120_000; d.status === 'RUNNING' && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 200));
      d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    }
    // assess: the Map Run's results, as the ResultWriter wrote them
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const out = JSON.parse(d.output!);
    expect(out.summary.map_run_arn).toMatch(/:mapRun:[^/]+\/Predict each object:[0-9a-f-]{36}$/);
    const read = async (uri: string) => {
      const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri)!;
      return JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString());
    };
    const manifest = await read(out.summary.results_manifest);
    expect(manifest.ResultFiles.FAILED).toEqual([]);
    const children = await read(`s3://${curated}/${manifest.ResultFiles.SUCCEEDED[0].Key}`);
    const outputs = children.map((c: { Output: string }) => JSON.parse(c.Output));
    // 51 listed objects in batches of batchInference.objectsPerBatch (10 locally)
    expect(children).toHaveLength(6);
    expect(outputs.reduce((n: number, o: { rows: number }) => n + o.rows, 0)).toBe(150);
    expect(outputs.flatMap((o: { skipped: string[] }) => o.skipped)).toEqual(['batch-e2e/_SUCCESS']);
    // assess: the Parquet predictions, each row once, row 1 predicted as the served model does
    const check = await platform.athena.startQueryExecution(
      {
        QueryString: `SELECT count(*) AS n, count(DISTINCT source) AS objects,
          max(CASE WHEN source LIKE '%/part-0.csv' AND row_number = 1 THEN prediction END) AS first
          FROM read_parquet('${out.summary.output_location}*')`,
        WorkGroup: 'mlops-local',
      },
      { label: 'a test check query', dialect: 'duckdb' },
    );
    await platform.athena.waitForQuery(check.QueryExecutionId);
    const [, row] = (await platform.athena.getQueryResults({ QueryExecutionId: check.QueryExecutionId })).ResultSet.Rows;
    const [n, objects, first] = row!.Data.map((c) => Number(c.VarCharValue));
    expect([n, objects]).toEqual([150, 50]);
    const served = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [CSV_ROW_1.slice(0, 11)] } });
    expect(first).toBeCloseTo(served.body.data.ndarray[0], 9);
    s3.destroy();
    sfn.destroy();
  });

  it('trains from the feature service wine_quality_v1 over the seeded lake and registers the run with it', async () => {
    // act
    const d = await runTraining({
      feature_service: 'wine_quality_v1',
      labels: 'wine_labels',
      target: 'quality',
      model_name: 'wine-quality-fs',
      hyperparameters: { alpha: 0.1, l1_ratio: 0.5 },
      thresholds: { max_rmse: 0.8 },
    });
    // assess
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const out = JSON.parse(d.output!);
    // every seeded label has all 11 features at its own instant: nothing is left out
    expect(out.staged.train_rows + out.staged.holdout_rows).toBe(1599);
    // one in five by the hash of wine_id and event time; the labels' time is the seeding's, so the
    // count differs per start: within four standard deviations of 320 (the split's own tests pin it)
    expect(Math.abs(out.staged.holdout_rows - 1599 / 5)).toBeLessThan(4 * Math.sqrt(1599 * 0.2 * 0.8));
    expect(out.plan.features).toEqual(WINE_FEATURE_NAMES);
    // the labels object and the one seeded object of the offline table, listed in data-version.json
    expect(out.plan.data_version.uri).toBe(out.plan.locations.data_version);
    expect(out.plan.data_version.objects).toBeGreaterThanOrEqual(2);
    expect(out.registration.version).toBe('1');
    // a second run of a model that was registered but never promoted (no champion yet) registers v2,
    // on the instance type and volume its input asks for (within local's pipelines.trainingLimits)
    const again = await runTraining({
      feature_service: 'wine_quality_v1',
      labels: 'wine_labels',
      target: 'quality',
      model_name: 'wine-quality-fs',
      instance_type: 'm5.xlarge',
      volume_size_gb: 20,
    });
    expect(again.status, again.cause).toBe('SUCCEEDED');
    expect(JSON.parse(again.output!).registration.version).toBe('2');
    const sagemaker = new SageMakerClient({
      endpoint: platform.info.awsEndpoint,
      region: platform.info.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const job = await sagemaker.send(
      new DescribeTrainingJobCommand({ TrainingJobName: JSON.parse(again.output!).training.job_name }),
    );
    sagemaker.destroy();
    expect(job.ResourceConfig).toMatchObject({ InstanceType: 'ml.m5.xlarge', InstanceCount: 1, VolumeSizeInGB: 20 });
    const run = await fetch(`${platform.gatewayUrl}/api/2.0/mlflow/runs/get?run_id=${out.registration.run_id}`);
    const params = ((await run.json()) as { run: { data: { params: { key: string; value: string }[] } } }).run.data.params;
    expect(params).toEqual(expect.arrayContaining([
      { key: 'feature_service', value: 'wine_quality_v1' },
      { key: 'dataset', value: 'wine_labels' },
    ]));
    // the training set it joined is kept in the curated zone, per execution
    const curatedSet = await platform.store.list(lakeBucket(platform, 'curated'), {
      prefix: `features/training-sets/wine_quality_v1/${d.name}/`,
    });
    expect(curatedSet.contents.some((o) => o.key.endsWith('.parquet'))).toBe(true);
  });

  it('fails a feature-service run whose labels table lacks the join key, registering nothing', async () => {
    const d = await runTraining({
      feature_service: 'wine_quality_v1',
      labels: 'winequality_red_raw',
      target: 'quality',
      model_name: 'wine-quality-fs-bad',
    });
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('PipelineInputError');
    expect(JSON.parse(d.cause!).errorMessage).toContain('but lacks "wine_id", "event_timestamp"');
    const res = await fetch(`${platform.gatewayUrl}/api/2.0/mlflow/registered-models/get?name=wine-quality-fs-bad`);
    expect(res.status).toBe(404);
  });

  it('pushes wine rows through /push and reads them back with Feast statuses', async () => {
    const now = new Date();
    const old = new Date(now.getTime() - 400 * 86_400_000); // beyond wine_features' 365-day TTL
    // Wines past the seeded 1..1599, so each status comes from these pushes alone (an online row of
    // a seeded wine is newer than the old push and would rightly win over it).
    const df: Record<string, unknown[]> = {
      wine_id: [1601, 1602, 1603],
      event_timestamp: [now.toISOString(), now.toISOString(), old.toISOString()],
      created: [now.toISOString(), now.toISOString(), now.toISOString()],
    };
    WINE_FEATURE_NAMES.forEach((f, i) => {
      df[f] = [ROW[i], ROW[i]! + 1, ROW[i]];
    });
    const pushed = await post('/push', { push_source_name: 'wine_push', df, to: 'online_and_offline' });
    expect(pushed.status).toBe(200);
    const got = await post('/get-online-features', {
      feature_service: 'wine_quality_v1',
      entities: { wine_id: [1601, 1603, 99999] },
    });
    expect(got.status).toBe(200);
    const alcohol = got.body.metadata.feature_names.indexOf('alcohol');
    expect(got.body.results[alcohol].values[0]).toBe(9.4);
    expect(got.body.results[alcohol].statuses).toEqual(['PRESENT', 'OUTSIDE_MAX_AGE', 'NOT_FOUND']);
    const bad = await post('/push', { push_source_name: 'nope', df: { wine_id: [1] }, to: 'online' });
    expect(bad.status).toBe(422);
  });

  it('refuses a push over 1,000 rows with 413 and writes none of it (the next test counts the offline rows)', async () => {
    // prepare: 1,001 new wines, past every id used above
    const n = 1001;
    const at = new Date().toISOString();
    const df: Record<string, unknown[]> = {
      wine_id: Array.from({ length: n }, (_, i) => 5000 + i),
      event_timestamp: Array.from({ length: n }, () => at),
    };
    WINE_FEATURE_NAMES.forEach((f, i) => {
      df[f] = Array.from({ length: n }, () => ROW[i]);
    });
    // act
    const pushed = await post('/push', { push_source_name: 'wine_push', df, to: 'online_and_offline' });
    const junk = await post('/push', { push_source_name: 'wine_push', df: { wine_id: [1] }, to: 'junk' });
    // assess
    expect(pushed.status).toBe(413);
    expect(pushed.body.detail[0]).toMatchObject({ type: 'too_long', loc: ['body', 'df', 'wine_id'] });
    const got = await post('/get-online-features', { feature_service: 'wine_quality_v1', entities: { wine_id: [5000, 6000] } });
    expect(got.body.results[1].statuses).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    expect(junk.status).toBe(422);
    expect(junk.body.detail[0]).toMatchObject({ type: 'literal_error', loc: ['body', 'to'] });
  });

  it('answers over-long MLflow names with 400 INVALID_PARAMETER_VALUE through the door, not a DynamoDB 500', async () => {
    const mlflow = `${platform.gatewayUrl}/api/2.0/mlflow`;
    const get = await fetch(`${mlflow}/registered-models/get?name=${'n'.repeat(10_000)}`);
    const create = await fetch(`${mlflow}/registered-models/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'n'.repeat(2048) }),
    });
    const experiment = await fetch(`${mlflow}/experiments/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e'.repeat(5000) }),
    });
    for (const res of [get, create, experiment]) {
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error_code: string }).error_code).toBe('INVALID_PARAMETER_VALUE');
    }
  });

  it('answers Athena StartQueryExecution with QueryString 5 with InvalidRequestException (AWS SDK v3)', async () => {
    const athena = new AthenaClient({
      endpoint: platform.info.awsEndpoint,
      region: platform.info.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const err = await athena
      .send(new StartQueryExecutionCommand({ QueryString: 5 as never, WorkGroup: 'mlops-local' }))
      .catch((e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } });
    athena.destroy();
    expect(err).toBeInstanceOf(InvalidRequestException);
    expect((err as InvalidRequestException).$metadata.httpStatusCode).toBe(400);
  });

  it('materializes the offline pushes into the online store through the platform', async () => {
    const d = await runMaterialization();
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const out = JSON.parse(d.output!);
    const wine = out.views.find((v: { featureView: string }) => v.featureView === 'wine_features');
    // Incremental: only the rows since the last recorded window end, the two pushed at "now" (1601,
    // 1602) from the offline push table's dt= partition; 1603's event time is older than the window
    // (and the TTL), as Feast's materialize-incremental would skip it too.
    expect(wine).toMatchObject({ from: 'recorded', rowsRead: 2 });
  });

  it('reuses the registered model on the next start', async () => {
    await platform.close();
    platform = await start();
    const again = await runStartup(platform);
    expect(again.map((s) => s.name)).toEqual(['seed example data', 'serve champion']);
    expect(again[0]!.outcome).toBe('already present: winequality-red.csv, wine-labels.csv, wine-features-seed.parquet');
    const seldon = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [ROW] } });
    expect(seldon.status).toBe(200);
  });
});

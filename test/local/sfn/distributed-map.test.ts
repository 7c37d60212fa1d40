/**
 * Distributed Map on the local runner (aws-local-stepfunctions runs every Map inline): items read
 * from the local S3 (listObjectsV2 over a prefix, a JSON or CSV object), ItemSelector, ItemBatcher,
 * MaxConcurrency, tolerated failures and ResultWriter, with a real S3Client on the local S3 server.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as S3 from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type AwsApi,
  IntegrationRegistry,
  type LambdaInvoker,
  LocalStepFunctions,
  lambdaIntegrations,
  MissingIntegrationError,
  type StateMachineSpec,
} from '../../../lib/local/sfn';
import { parseCsvRows } from '../../../lib/local/sfn/distributed-map';
import { BUCKETS, type LocalS3, startLocalS3 } from '../../pipelines/helpers';
import { ARN, FunctionError, machine, sleep, standInLambdas, WORK_TASK } from './helpers';

const BUCKET = BUCKETS.raw;
const RESULTS = BUCKETS.results;

let s3: LocalS3;
let api: AwsApi;

beforeAll(async () => {
  s3 = await startLocalS3();
  api = (operation, input) => {
    const Command = (S3 as unknown as Record<string, new (i: unknown) => S3.ListObjectsV2Command>)[`${operation}Command`]!;
    return s3.client.send(new Command(input));
  };
  for (let i = 0; i < 25; i++) {
    await s3.objects.put(BUCKET, `inputs/part-${String(i).padStart(3, '0')}.csv`, `x\n${i}\n`, 'text/csv');
  }
  await s3.objects.put(BUCKET, 'other/skip.csv', 'x\n1\n', 'text/csv');
  await s3.objects.put(BUCKET, 'manifests/items.json', JSON.stringify([{ n: 1 }, { n: 2 }, { n: 3 }]), 'application/json');
  await s3.objects.put(
    BUCKET,
    'manifests/items.csv',
    'name,note\n"a, with comma",plain\nb,"say ""hi"""\nc,\n',
    'text/csv',
  );
  await s3.objects.put(BUCKET, 'manifests/not-json.json', '{"items": oops', 'application/json');
});
afterAll(() => s3.close());

/** A machine whose one state is a Distributed Map over `map`, its children invoking `work`. */
const mapMachine = (name: string, map: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  machine(name, {
    StartAt: 'Each',
    States: {
      Each: {
        Type: 'Map',
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' },
          StartAt: 'Work',
          States: { Work: WORK_TASK },
        },
        End: true,
        ...map,
      },
      ...extra,
    },
  });

const runner = (machines: StateMachineSpec[], invoker: LambdaInvoker, withS3 = true) =>
  new LocalStepFunctions({
    stateDir: mkdtempSync(join(tmpdir(), 'mlops-dmap-')),
    machines,
    integrations: new IntegrationRegistry().use(lambdaIntegrations(invoker)),
    ...(withS3 ? { s3: api } : {}),
  });

async function run(sfn: LocalStepFunctions, name: string, input: unknown) {
  const { executionArn } = await sfn.startExecution({ stateMachineArn: name, input: JSON.stringify(input) });
  return { arn: executionArn, d: await sfn.waitForExecution(executionArn) };
}

const getJson = async (bucket: string, key: string) =>
  JSON.parse(Buffer.from((await s3.objects.get(bucket, key)).body).toString('utf8'));

describe('Distributed Map: ItemReader over a prefix, ItemBatcher, MaxConcurrency, ResultWriter', () => {
  it('lists the prefix page by page, batches the selected items, runs at most MaxConcurrency children and writes the results', async () => {
    // prepare
    let running = 0;
    let peak = 0;
    const work = standInLambdas({
      work: async (payload) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        const p = payload as { BatchInput: { model: string }; Items: { key: string; index: number }[] };
        return { model: p.BatchInput.model, keys: p.Items.map((i) => i.key), indexes: p.Items.map((i) => i.index) };
      },
    });
    const sfn = runner(
      [
        mapMachine('prefix', {
          ItemReader: {
            Resource: 'arn:aws:states:::s3:listObjectsV2',
            // MaxKeys 7: the 25 objects come in four pages.
            Parameters: { 'Bucket.$': '$.bucket', 'Prefix.$': '$.prefix', MaxKeys: 7 },
          },
          ItemSelector: { 'key.$': '$$.Map.Item.Value.Key', 'index.$': '$$.Map.Item.Index', 'run.$': '$$.Execution.Name' },
          ItemBatcher: { MaxItemsPerBatch: 4, BatchInput: { 'model.$': '$.model' } },
          MaxConcurrency: 3,
          ResultWriter: {
            Resource: 'arn:aws:states:::s3:putObject',
            Parameters: { Bucket: RESULTS, Prefix: 'map-results/' },
          },
          ResultPath: '$.map',
        }),
      ],
      work,
    );
    // act
    const { arn, d } = await run(sfn, 'prefix', { bucket: BUCKET, prefix: 'inputs/', model: 'm1' });
    // assess
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const out = JSON.parse(d.output!);
    expect(out.map.MapRunArn).toMatch(/^arn:aws:states:us-east-1:000000000000:mapRun:prefix\/Each:[0-9a-f-]{36}$/);
    const runId = out.map.MapRunArn.split(':').pop();
    expect(out.map.ResultWriterDetails).toEqual({ Bucket: RESULTS, Key: `map-results/${runId}/manifest.json` });
    expect(work.calls).toHaveLength(7); // ceil(25 / 4)
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(3);
    const manifest = await getJson(RESULTS, out.map.ResultWriterDetails.Key);
    expect(manifest).toMatchObject({
      DestinationBucket: RESULTS,
      MapRunArn: out.map.MapRunArn,
      ResultFiles: { FAILED: [], PENDING: [], SUCCEEDED: [{ Key: `map-results/${runId}/SUCCEEDED_0.json` }] },
    });
    const succeeded = await getJson(RESULTS, manifest.ResultFiles.SUCCEEDED[0].Key);
    expect(succeeded).toHaveLength(7);
    expect(succeeded[0]).toMatchObject({
      ExecutionArn: expect.stringMatching(/^arn:aws:states:us-east-1:000000000000:express:prefix\/Each:/),
      Status: 'SUCCEEDED',
      StateMachineArn: `${ARN}prefix`,
    });
    const outputs = succeeded.map((e: { Output: string }) => JSON.parse(e.Output));
    expect(outputs.flatMap((o: { keys: string[] }) => o.keys)).toEqual(
      Array.from({ length: 25 }, (_, i) => `inputs/part-${String(i).padStart(3, '0')}.csv`),
    );
    expect(outputs.flatMap((o: { indexes: number[] }) => o.indexes)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(new Set(outputs.map((o: { model: string }) => o.model))).toEqual(new Set(['m1']));
    // `$$.Execution.Name` in the ItemSelector is the parent's; the batch input names the run.
    const input = JSON.parse(succeeded[0].Input);
    expect(input.Items[0].run).toBe(d.name);
    const types = sfn.getExecutionHistory({ executionArn: arn }).events.map((e) => e.type);
    expect(types).toEqual([
      'ExecutionStarted',
      'MapStateEntered',
      'MapRunStarted',
      'MapRunSucceeded',
      'MapStateExited',
      'ExecutionSucceeded',
    ]);
  });

  it('returns the children outputs in item order when there is no ResultWriter', async () => {
    const sfn = runner(
      [mapMachine('inline-items', { ItemsPath: '$.items', ItemSelector: { 'n.$': '$$.Map.Item.Value', 'i.$': '$$.Map.Item.Index' } })],
      standInLambdas({ work: (p) => (p as { n: number }).n * 10 }),
    );
    const { d } = await run(sfn, 'inline-items', { items: [3, 1, 2] });
    expect(d.status, d.cause).toBe('SUCCEEDED');
    expect(JSON.parse(d.output!)).toEqual([30, 10, 20]);
  });

  it('closes a batch at MaxInputBytesPerBatch, and refuses a batch size that is not a positive integer', async () => {
    const sizes = standInLambdas({ work: (p) => (p as { Items: unknown[] }).Items.length });
    const items = Array.from({ length: 10 }, (_, i) => 'x'.repeat(90) + i); // 93 bytes each as JSON
    const sfn = runner(
      [
        mapMachine('by-bytes', { ItemsPath: '$.items', ItemBatcher: { MaxInputBytesPerBatch: 300 } }),
        mapMachine('bad-batch', { ItemsPath: '$.items', ItemBatcher: { MaxItemsPerBatch: 0 } }),
      ],
      sizes,
    );
    const ok = await run(sfn, 'by-bytes', { items });
    expect(ok.d.status, ok.d.cause).toBe('SUCCEEDED');
    // {"Items":[]} is 12 bytes, each item 93 + a comma: three a batch fit 300 bytes (294), four do not
    expect(JSON.parse(ok.d.output!)).toEqual([3, 3, 3, 1]);
    const bad = await run(sfn, 'bad-batch', { items });
    expect(bad.d.status).toBe('FAILED');
    expect(bad.d.error).toBe('States.Runtime');
    expect(bad.d.cause).toMatch(/MaxItemsPerBatch must be a positive integer, but 0 was provided/);
  });

  it('reads a JSON array object and a CSV object (quoted fields, header row), honouring MaxItems', async () => {
    const echo = standInLambdas({ work: (p) => p });
    const sfn = runner(
      [
        mapMachine('json', {
          ItemReader: {
            Resource: 'arn:aws:states:::s3:getObject',
            ReaderConfig: { InputType: 'JSON', MaxItems: 2 },
            Parameters: { Bucket: BUCKET, Key: 'manifests/items.json' },
          },
        }),
        mapMachine('csv', {
          ItemReader: {
            Resource: 'arn:aws:states:::s3:getObject',
            ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' },
            Parameters: { Bucket: BUCKET, Key: 'manifests/items.csv' },
          },
        }),
      ],
      echo,
    );
    const json = await run(sfn, 'json', {});
    expect(json.d.status, json.d.cause).toBe('SUCCEEDED');
    expect(JSON.parse(json.d.output!)).toEqual([{ n: 1 }, { n: 2 }]);
    const csv = await run(sfn, 'csv', {});
    expect(csv.d.status, csv.d.cause).toBe('SUCCEEDED');
    expect(JSON.parse(csv.d.output!)).toEqual([
      { name: 'a, with comma', note: 'plain' },
      { name: 'b', note: 'say "hi"' },
      { name: 'c', note: '' },
    ]);
  });
});

describe('Distributed Map: tolerated failures', () => {
  const failing = () =>
    standInLambdas({
      work: (p) => {
        const n = (p as { n: number }).n;
        if (n % 5 === 0) throw new FunctionError('BadItem', `item ${n} is bad`);
        return { n };
      },
    });
  const items = Array.from({ length: 10 }, (_, i) => ({ n: i + 1 })); // 5 and 10 fail: 20 %
  const writer = {
    Resource: 'arn:aws:states:::s3:putObject',
    Parameters: { Bucket: RESULTS, 'Prefix.$': "States.Format('tolerance/{}', $$.Execution.Name)" },
  };

  it('succeeds within ToleratedFailurePercentage and writes the failed children to FAILED_0.json', async () => {
    const sfn = runner(
      [mapMachine('tolerant', { ItemsPath: '$.items', ToleratedFailurePercentage: 20, ResultWriter: writer })],
      failing(),
    );
    const { d } = await run(sfn, 'tolerant', { items });
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const manifest = await getJson(RESULTS, JSON.parse(d.output!).ResultWriterDetails.Key);
    expect(manifest.ResultWriterDetails).toBeUndefined();
    expect(manifest.ResultFiles.FAILED[0].Key).toMatch(new RegExp(`^tolerance/${d.name}/[0-9a-f-]{36}/FAILED_0\\.json$`));
    const failed = await getJson(RESULTS, manifest.ResultFiles.FAILED[0].Key);
    expect(failed.map((f: { Error: string; Input: string }) => [f.Error, JSON.parse(f.Input).n])).toEqual([
      ['BadItem', 5],
      ['BadItem', 10],
    ]);
    expect(await getJson(RESULTS, manifest.ResultFiles.SUCCEEDED[0].Key)).toHaveLength(8);
  });

  it.each([
    ['a percentage', { ToleratedFailurePercentage: 10 }],
    ['a count', { ToleratedFailureCount: 1 }],
    ['no tolerance at all', {}],
  ])('fails States.ExceedToleratedFailureThreshold past %s, and Catch sees it', async (_, tolerance) => {
    const sfn = runner(
      [
        mapMachine(
          'intolerant',
          {
            ItemsPath: '$.items',
            MaxConcurrency: 1,
            ...tolerance,
            Catch: [{ ErrorEquals: ['States.ExceedToleratedFailureThreshold'], ResultPath: '$.error', Next: 'Caught' }],
          },
          { Caught: { Type: 'Pass', End: true } },
        ),
      ],
      failing(),
    );
    const { d } = await run(sfn, 'intolerant', { items });
    expect(d.status, d.cause).toBe('SUCCEEDED');
    const out = JSON.parse(d.output!);
    expect(out.error.Error).toBe('States.ExceedToleratedFailureThreshold');
    expect(out.error.Cause).toMatch(/tolerated failure threshold was exceeded/);
  });

  it('stops starting children once the threshold is passed', async () => {
    const work = failing();
    const sfn = runner([mapMachine('stops', { ItemsPath: '$.items', MaxConcurrency: 1, ToleratedFailureCount: 0 })], work);
    const { d } = await run(sfn, 'stops', { items });
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('States.ExceedToleratedFailureThreshold');
    expect(work.calls.map((c) => (c.payload as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('Distributed Map: child execution types', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ends an EXPRESS child at 5 minutes with States.Timeout, as Step Functions does, and a STANDARD one runs on', async () => {
    vi.useFakeTimers();
    const slow = standInLambdas({ work: () => sleep(6 * 60_000).then(() => ({ done: true })) });
    const express = mapMachine('express', {
      ItemsPath: '$.items',
      Catch: [{ ErrorEquals: ['States.ExceedToleratedFailureThreshold'], ResultPath: '$.error', Next: 'Caught' }],
    }, { Caught: { Type: 'Pass', End: true } });
    const standard = mapMachine('standard', { ItemsPath: '$.items' });
    (standard.definition.States['Each']!['ItemProcessor'] as { ProcessorConfig: object }).ProcessorConfig = {
      Mode: 'DISTRIBUTED',
      ExecutionType: 'STANDARD',
    };
    const sfn = runner([express, standard], slow);
    const runs = await Promise.all(
      ['express', 'standard'].map((name) => sfn.startExecution({ stateMachineArn: name, input: { items: [1] } })),
    );
    await vi.advanceTimersByTimeAsync(6 * 60_000 + 1000);
    const [e, st] = await Promise.all(runs.map((r) => sfn.waitForExecution(r.executionArn)));
    expect(e!.status, e!.cause).toBe('SUCCEEDED');
    expect(JSON.parse(e!.output!).error.Error).toBe('States.ExceedToleratedFailureThreshold');
    expect(st!.status, st!.cause).toBe('SUCCEEDED');
    expect(JSON.parse(st!.output!)).toEqual([{ done: true }]);
  });
});

describe('Distributed Map: a bad ItemReader or ResultWriter fails with the Step Functions error', () => {
  const echo = () => standInLambdas({ work: (p) => p });
  it.each([
    ['no Bucket', { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Prefix: 'inputs/' } }, /must name a Bucket/],
    [
      'a bucket that does not exist',
      { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Bucket: 'no-such-bucket', Prefix: 'x/' } },
      /NoSuchBucket/,
    ],
    [
      'an object that does not exist',
      {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { Bucket: BUCKET, Key: 'manifests/none.json' },
      },
      /NoSuchKey/,
    ],
    [
      'an object that is not JSON',
      {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { Bucket: BUCKET, Key: 'manifests/not-json.json' },
      },
      /is not JSON/,
    ],
    [
      'an unknown InputType',
      {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'XML' },
        Parameters: { Bucket: BUCKET, Key: 'manifests/items.json' },
      },
      /InputType must be JSON, JSONL or CSV/,
    ],
    [
      'CSV headers GIVEN but none listed',
      {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'GIVEN' },
        Parameters: { Bucket: BUCKET, Key: 'manifests/items.csv' },
      },
      /needs CSVHeaders/,
    ],
  ])('States.ItemReaderFailed for %s, and nothing runs', async (_, reader, cause) => {
    const work = echo();
    const sfn = runner([mapMachine('bad-reader', { ItemReader: reader })], work);
    const { d } = await run(sfn, 'bad-reader', {});
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('States.ItemReaderFailed');
    expect(d.cause).toMatch(cause);
    expect(work.calls).toEqual([]);
  });

  it('States.ResultWriterFailed for a bucket that does not exist', async () => {
    const sfn = runner(
      [
        mapMachine('bad-writer', {
          ItemsPath: '$.items',
          ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'no-such-bucket', Prefix: 'r' } },
        }),
      ],
      echo(),
    );
    const { d } = await run(sfn, 'bad-writer', { items: [1] });
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('States.ResultWriterFailed');
    expect(d.cause).toMatch(/NoSuchBucket/);
  });

  it('refuses, before anything runs, a machine that reads S3 when the runner has none', () => {
    const sfn = runner(
      [mapMachine('no-s3', { ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Bucket: BUCKET } } })],
      echo(),
      false,
    );
    expect(() => sfn.validate()).toThrow(MissingIntegrationError);
    expect(() => sfn.validate()).toThrow(/ItemReader: give the runner the s3 option/);
  });
});

describe('parseCsvRows', () => {
  it('splits quoted fields with delimiters, doubled quotes and line breaks', () => {
    expect(parseCsvRows('a;b\r\n"x;1";"line\nbreak"\n\n"""q""";\n', ';')).toEqual([
      ['a', 'b'],
      ['x;1', 'line\nbreak'],
      ['"q"', ''],
    ]);
  });
});

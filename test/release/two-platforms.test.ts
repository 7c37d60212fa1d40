/**
 * Two local platforms as two environments, through the doors: `node bin/mlops.mjs up` twice as
 * child processes on random ports (a source that trained and serves wine-quality version 1, and
 * an empty target started with --no-startup), the real `mlops release|approve|reject` CLI between
 * them, the registries read over MLflow REST, the artifact zones with an S3 client, predictions
 * over the Seldon route.
 *
 * Order matters and is the story: failures first (each leaves the target's registry and
 * artifacts as they were), then a rejected release (archived, nothing served), then an approved
 * one (served, same prediction, lineage), then a repeat (a no-op that says so).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ListStateMachinesCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION_TAGS } from '../../lib/shared/operations';
import { parseS3Uri } from '../../lib/shared/s3-uri';
import { runCli, startUp } from '../local/mlops-process';
import { copyTrainedState } from '../local/trained-state';

const MODEL = 'wine-quality';
const SELDON_BODY = '{"data":{"ndarray":[[7.4,0.7,0,1.9,0.076,11,34,0.9978,3.51,0.56,9.4]]}}';
const dirs: string[] = [];
const children: ChildProcess[] = [];

interface Platform {
  readonly gateway: string;
  readonly aws: string;
  readonly s3: string;
  readonly child: ChildProcess;
}

/** `mlops up` in a child process; resolves with its URLs once the ready banner is printed. */
async function up(args: string[], dir = mkdtempSync(join(tmpdir(), 'mlops-release-'))): Promise<Platform & { dir: string }> {
  dirs.push(dir);
  const platform = await startUp(dir, args);
  children.push(platform.child);
  return { gateway: platform.url('gateway')!, aws: platform.url('AWS endpoint')!, s3: platform.url('S3')!, child: platform.child, dir };
}

/** The real CLI in a child process. */
const mlops = (...args: string[]) => runCli(args);

const s3Of = (endpoint: string) =>
  new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

async function mlflow<T = Record<string, unknown>>(gateway: string, endpoint: string, query: Record<string, string>): Promise<T> {
  const res = await fetch(`${gateway}/api/2.0/mlflow/${endpoint}?${new URLSearchParams(query)}`);
  return (await res.json()) as T;
}
async function mlflowPost(gateway: string, endpoint: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gateway}/api/2.0/mlflow/${endpoint}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${endpoint}: ${JSON.stringify(json)}`);
  return json;
}

interface VersionJson {
  version: string;
  current_stage: string;
  source: string;
  run_id?: string;
  tags?: { key: string; value: string }[];
}

/** What the target holds: its registered models with their versions and stages, and the released objects. */
async function targetState() {
  const { registered_models = [] } = await mlflow<{ registered_models?: { name: string }[] }>(target.gateway, 'registered-models/search', {});
  const versions = await mlflow<{ model_versions?: VersionJson[] }>(target.gateway, 'model-versions/search', {});
  const s3 = s3Of(target.s3);
  const objects: string[] = [];
  for (const b of (await s3.send(new ListBucketsCommand({}))).Buckets ?? []) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: b.Name!, Prefix: 'releases/' }));
    objects.push(...(listed.Contents ?? []).map((o) => `${b.Name}/${o.Key}`));
  }
  return {
    models: registered_models.map((m) => m.name).sort(),
    versions: (versions.model_versions ?? []).map((v) => `${v.version}:${v.current_stage}`).sort(),
    objects: objects.sort(),
  };
}

const predict = async (gateway: string) => {
  const res = await fetch(`${gateway}/seldon/seldon/${MODEL}/api/v1.0/predictions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: SELDON_BODY,
  });
  return { status: res.status, body: (await res.json()) as { data?: { ndarray?: number[] } } };
};

const release = (version: string, from = source.gateway) =>
  mlops('release', '--model', MODEL, '--version', version, '--from', from, '--to', target.gateway);
const executionOf = (stdout: string) => /^waiting for approval: (\S+)/m.exec(stdout)?.[1];

/** Another source version of version 1's artifact (as a retrain on the same data would give). */
async function addSourceVersion(): Promise<string> {
  const { model_version: v1 } = await mlflow<{ model_version: VersionJson }>(source.gateway, 'model-versions/get', { name: MODEL, version: '1' });
  const created = (await mlflowPost(source.gateway, 'model-versions/create', {
    name: MODEL,
    source: v1.source,
    run_id: v1.run_id,
    tags: v1.tags?.filter((t) => t.key === VERSION_TAGS.artifactSha256),
  })) as { model_version: VersionJson };
  return created.model_version.version;
}

let source: Platform;
let target: Platform & { dir: string };

beforeAll(async () => {
  // The source as the run's first start left it (wine-quality v1 served); both start from the
  // cached assembly, so at once.
  const sourceDir = await copyTrainedState(mkdtempSync(join(tmpdir(), 'mlops-release-')));
  [source, target] = await Promise.all([up([], sourceDir), up(['--no-startup'])]);
}, 600_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGINT');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('close', r)) : undefined)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a release between two local platforms', () => {
  it('the source registered version 1 with its artifact digest, and serves it', async () => {
    const { model_version: v } = await mlflow<{ model_version: VersionJson }>(source.gateway, 'model-versions/get', { name: MODEL, version: '1' });
    expect(v.current_stage).toBe('Production');
    expect(v.tags?.find((t) => t.key === VERSION_TAGS.artifactSha256)?.value).toMatch(/^[0-9a-f]{64}$/);
    expect((await predict(source.gateway)).status).toBe(200);
    expect((await predict(target.gateway)).status).not.toBe(200);
  });

  it('fails with a clear error for an unknown version or model, leaving the target unchanged', async () => {
    const before = await targetState();
    const version = await release('99');
    expect(version.code).toBe(1);
    expect(version.stdout).toMatch(/error: SourceNotFound\n.*has no version 99 of model wine-quality/);
    const model = await mlops('release', '--model', 'no-such-model', '--version', '1', '--from', source.gateway, '--to', target.gateway);
    expect(model.code).toBe(1);
    expect(model.stdout).toMatch(/error: SourceNotFound\n.*has no model named no-such-model/);
    expect(await targetState()).toEqual(before);
  }, 120_000);

  it('fails with a clear error for an unreachable source, from the CLI and in the machine, leaving the target unchanged', async () => {
    const before = await targetState();
    const closed = 'http://127.0.0.1:9'; // discard: nothing listens on loopback
    const cli = await release('1', closed);
    expect(cli.code).toBe(3);
    expect(cli.stderr).toMatch(/no local platform answers at http:\/\/127\.0\.0\.1:9/);
    // The machine itself, started as the CLI would but with a source that stops answering.
    const sfn = new SFNClient({ endpoint: target.aws, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const { stateMachines = [] } = await sfn.send(new ListStateMachinesCommand({}));
    const machine = stateMachines.find((m) => /release/i.test(m.name ?? ''))!;
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machine.stateMachineArn,
        input: JSON.stringify({ model: MODEL, version: '1', source: { environment: 'gone', registry_url: `${closed}/`, s3_endpoint: closed } }),
      }),
    );
    let d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    for (let i = 0; i < 600 && d.status === 'RUNNING'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    }
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('SourceUnreachable');
    expect(d.cause).toMatch(/source registry could not be reached/);
    expect(await targetState()).toEqual(before);
  }, 120_000);

  it('refuses a tampered artifact (digest mismatch), leaving the target unchanged', async () => {
    const before = await targetState();
    const { model_version: v } = await mlflow<{ model_version: VersionJson }>(source.gateway, 'model-versions/get', { name: MODEL, version: '1' });
    const where = parseS3Uri(v.source)!;
    const s3 = s3Of(source.s3);
    const original = await (await s3.send(new GetObjectCommand({ Bucket: where.bucket, Key: where.key }))).Body!.transformToByteArray();
    const tampered = Buffer.from(original);
    tampered[tampered.length - 1] ^= 0xff;
    await s3.send(new PutObjectCommand({ Bucket: where.bucket, Key: where.key, Body: tampered }));
    try {
      const run = await release('1');
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/error: ArtifactDigestMismatch\n.*has SHA-256 [0-9a-f]{64}, but the source registry recorded [0-9a-f]{64}/);
      expect(await targetState()).toEqual(before);
    } finally {
      await s3.send(new PutObjectCommand({ Bucket: where.bucket, Key: where.key, Body: original }));
    }
  }, 120_000);

  it('rejected: the version stays archived with the reason, and nothing is served', async () => {
    const version = await addSourceVersion();
    const started = await release(version);
    expect(started.code, started.stderr).toBe(0);
    const execution = executionOf(started.stdout)!;
    expect(started.stderr).toContain('▶ Wait for approval');
    const rejected = await mlops('reject', execution, '--to', target.gateway, '--reason', 'holdout too small');
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.stdout).toMatch(/error: ReleaseRejected\nholdout too small/);
    const { model_versions = [] } = await mlflow<{ model_versions?: VersionJson[] }>(target.gateway, 'model-versions/search', {
      filter: `name = '${MODEL}'`,
    });
    expect(model_versions.map((m) => m.current_stage)).toEqual(['Archived']);
    expect(model_versions[0]!.tags).toContainEqual({ key: 'mlops.release_decision', value: 'rejected: holdout too small' });
    expect((await predict(target.gateway)).status).not.toBe(200);
    // Nothing waits any more.
    const again = await mlops('approve', execution, '--to', target.gateway);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/is not waiting for approval/);
  }, 180_000);

  it('approved: the target serves the released version, answering as the source does, with its lineage', async () => {
    const started = await release('1');
    expect(started.code, started.stderr).toBe(0);
    const execution = executionOf(started.stdout)!;
    expect(started.stdout).toContain(`npx mlops approve ${execution} --to ${target.gateway}`);
    const approved = await mlops('approve', execution, '--to', target.gateway);
    expect(approved.code, approved.stderr + approved.stdout).toBe(0);
    expect(approved.stdout).toMatch(/^SUCCEEDED/);
    expect(approved.stderr).toContain('✓ Promote release');

    const { model_versions = [] } = await mlflow<{ model_versions?: VersionJson[] }>(target.gateway, 'model-versions/search', {
      filter: `name = '${MODEL}' and tags.\`${VERSION_TAGS.sourceVersion}\` = '1'`,
    });
    expect(model_versions).toHaveLength(1);
    const released = model_versions[0]!;
    expect(released.current_stage).toBe('Production');
    const { model_version: v1 } = await mlflow<{ model_version: VersionJson }>(source.gateway, 'model-versions/get', { name: MODEL, version: '1' });
    const tags = Object.fromEntries((released.tags ?? []).map((t) => [t.key, t.value]));
    const sourceTags = Object.fromEntries((v1.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags[VERSION_TAGS.sourceEnvironment]).toBe(source.gateway);
    expect(tags[VERSION_TAGS.sourceVersion]).toBe('1');
    expect(tags[VERSION_TAGS.sourceRunId]).toBe(v1.run_id);
    expect(tags[VERSION_TAGS.artifactSha256]).toBe(sourceTags[VERSION_TAGS.artifactSha256]);
    expect(JSON.parse(tags[VERSION_TAGS.dataVersion]!)).toHaveProperty('objects');
    // The training data's lineage: the source's data-version.json and its digest, as registered there.
    expect(sourceTags[VERSION_TAGS.dataVersionUri]).toMatch(/^s3:\/\/[^/]+\/runs\/wine-quality\/[^/]+\/data-version\.json$/);
    expect(sourceTags[VERSION_TAGS.dataVersionSha256]).toMatch(/^[0-9a-f]{64}$/);
    expect(tags[VERSION_TAGS.dataVersionUri]).toBe(sourceTags[VERSION_TAGS.dataVersionUri]);
    expect(tags[VERSION_TAGS.dataVersionSha256]).toBe(sourceTags[VERSION_TAGS.dataVersionSha256]);
    expect(JSON.parse(tags[VERSION_TAGS.dataVersion]!)).toMatchObject({
      uri: sourceTags[VERSION_TAGS.dataVersionUri],
      sha256: sourceTags[VERSION_TAGS.dataVersionSha256],
    });
    expect(released.source).toMatch(/^s3:\/\/[^/]+\/releases\/wine-quality\//);

    // Served by the target's own deployment (from its own artifacts zone), answering as the source.
    let answer = await predict(target.gateway);
    for (let i = 0; i < 50 && answer.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await predict(target.gateway);
    }
    expect(answer.status).toBe(200);
    expect(answer.body.data?.ndarray).toEqual((await predict(source.gateway)).body.data?.ndarray);
  }, 180_000);

  it('a second release of the same version is a no-op that says so', async () => {
    const before = await targetState();
    const again = await release('1');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Version 1 of wine-quality from http:\/\/127\.0\.0\.1:\d+ is already released here as version \d+ \(stage Production\): nothing to do/);
    expect(again.stderr).toContain('▶ Already released');
    expect(await targetState()).toEqual(before);
  }, 120_000);

  it('a target stopped while a release waits for approval cleans the release up when it starts again', async () => {
    const version = await addSourceVersion();
    const started = await release(version);
    expect(started.code, started.stderr).toBe(0);
    const execution = executionOf(started.stdout)!;
    const waiting = await targetState();
    expect(waiting.versions).toHaveLength(3);
    // prepare: stop the target (its task token dies with it), start it again on the same state dir
    target.child.kill('SIGINT');
    await new Promise((r) => target.child.once('close', r));
    target = await up(['--no-startup'], target.dir);
    // assess: the cut-off release's version and copies are gone, the other releases stay
    const after = await targetState();
    expect(after.versions).toHaveLength(2);
    expect(after.objects).toEqual(waiting.objects.filter((o) => !o.includes(`/v${version}/`)));
    const again = await mlops('approve', execution, '--to', target.gateway);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/is not waiting for approval \(it has ended\)/);
  }, 180_000);
});

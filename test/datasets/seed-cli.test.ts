/**
 * `mlops seed` against a deployed lake's buckets: the AWS SDK path with the default credential
 * chain, pointed at the local S3 engine (by `--endpoint-url` or `AWS_ENDPOINT_URL_S3`), and its
 * usage errors. Seeding the local platform (no bucket flags) is covered in test/local/startup.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { buildProgram, EXIT, runProgram } from '../../lib/cli/program';
import { seedCommands } from '../../lib/cli/seed';
import { WINE_FEATURES_SEED_NAME } from '../../lib/datasets/wine-lake';
import { WINE_LABELS_KEY, WINE_RAW_KEY } from '../../lib/datasets/wine';
import { type S3Server, S3Store, startS3Server } from '../../lib/local/s3';

let dir: string;
let server: S3Server;
let stdout: MockInstance;
let stderr: MockInstance;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mlops-seed-cli-'));
  server = await startS3Server({ store: await S3Store.open(dir, ['lake-raw', 'lake-curated']) });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  // The default credential chain, from the environment only (no profile or instance metadata).
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  vi.stubEnv('AWS_REGION', undefined);
  vi.stubEnv('AWS_CONFIG_FILE', join(dir, 'no-config'));
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(dir, 'no-credentials'));
  vi.stubEnv('AWS_ENDPOINT_URL_S3', undefined);
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function mlops(...argv: string[]) {
  const code = await runProgram(buildProgram([seedCommands]), argv);
  const text = (m: MockInstance) => m.mock.calls.map((c) => String(c[0])).join('');
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

const BUCKETS = ['--raw-bucket', 'lake-raw', '--curated-bucket', 'lake-curated', '--region', 'eu-west-1'];

describe('mlops seed --raw-bucket … --curated-bucket …', () => {
  it('creates the three objects through the S3 API, then finds them present (exit 0 both times)', async () => {
    // act
    const first = await mlops('seed', ...BUCKETS, '--endpoint-url', server.endpoint, '--json');
    vi.stubEnv('AWS_ENDPOINT_URL_S3', server.endpoint);
    stdout.mockClear();
    const second = await mlops('seed', ...BUCKETS);
    // assess
    expect(first.code, first.stderr).toBe(EXIT.ok);
    expect(JSON.parse(first.stdout)).toEqual([
      expect.objectContaining({ uri: `s3://lake-raw/${WINE_RAW_KEY}`, outcome: 'created' }),
      expect.objectContaining({ uri: `s3://lake-raw/${WINE_LABELS_KEY}`, outcome: 'created' }),
      expect.objectContaining({
        uri: expect.stringMatching(new RegExp(`^s3://lake-curated/features/wine_features/dt=\\d{4}-\\d{2}-\\d{2}/${WINE_FEATURES_SEED_NAME}$`)),
        outcome: 'created',
      }),
    ]);
    expect(second.code, second.stderr).toBe(EXIT.ok);
    expect(second.stdout.trim().split('\n')).toEqual([
      `already present  s3://lake-raw/${WINE_RAW_KEY}`,
      `already present  s3://lake-raw/${WINE_LABELS_KEY}`,
      `already present  ${JSON.parse(first.stdout)[2].uri}`,
    ]);
  });

  it('exits 1 with the S3 error when a bucket does not exist', async () => {
    const r = await mlops(
      'seed',
      '--raw-bucket',
      'no-such-bucket',
      '--curated-bucket',
      'lake-curated',
      '--region',
      'eu-west-1',
      '--endpoint-url',
      server.endpoint,
    );
    expect(r.code).toBe(EXIT.failed);
    expect(r.stderr).toMatch(/seeding failed: NoSuchBucket/);
  });

  it.each([
    [['--raw-bucket', 'lake-raw'], /must be given together .* but only --raw-bucket was provided/],
    [['--curated-bucket', 'lake-curated'], /but only --curated-bucket was provided/],
    [['--raw-bucket', 'Lake_Raw', '--curated-bucket', 'lake-curated'], /--raw-bucket must be an S3 bucket name .* "Lake_Raw"/],
    [['--raw-bucket', 'lake-raw', '--curated-bucket', 'x'], /--curated-bucket must be an S3 bucket name .* "x"/],
    [['--region', 'eu-west-1'], /--region applies to a deployed environment only/],
    [['--endpoint-url', 'http://127.0.0.1:1'], /--endpoint-url applies to a deployed environment only/],
    [[...BUCKETS, '--endpoint-url', 'localhost:4566'], /--endpoint-url must be an http\(s\) URL/],
    [['--raw-bucket', 'lake-raw', '--curated-bucket', 'lake-curated', '--region', 'Ireland'], /--region must be an AWS region/],
    [[...BUCKETS, '--state-dir', '/tmp/x'], /--state-dir applies to the local platform only/],
    [['--raw-bucket', 'lake-raw', '--curated-bucket', 'lake-curated'], /no AWS region: pass --region or set AWS_REGION/],
    [['--bucket', 'lake-raw'], /unknown option '--bucket'/],
  ])('fails with exit 2 for %j', async (args, message) => {
    const r = await mlops('seed', ...args);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(message);
  });

  it('has --help with examples', async () => {
    const r = await mlops('seed', '--help');
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/Examples:\n {2}npx mlops seed\n {2}npx mlops seed --raw-bucket/);
  });
});

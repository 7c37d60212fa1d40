/** The thin handlers: configuration read once at cold start, failing fast, then the core. */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WINE_CSV_PATH, WINE_RAW_PREFIX } from '../../lib/datasets/wine';
import { BUCKETS, type LocalS3, startLocalS3, WINE_TABLE } from './helpers';

let s3: LocalS3;
let endpoint: string;
const saved = { ...process.env };

beforeAll(async () => {
  s3 = await startLocalS3();
  const { protocol, hostname, port } = await s3.client.config.endpoint!();
  endpoint = `${protocol}//${hostname}:${port}`;
  await s3.objects.put(
    BUCKETS.raw,
    `${WINE_RAW_PREFIX}winequality-red.csv`,
    readFileSync(WINE_CSV_PATH),
    'text/csv',
  );
});
afterAll(async () => {
  process.env = saved;
  await s3.close();
});

describe('pipeline handlers', () => {
  it('fail at cold start, naming a missing variable', async () => {
    vi.resetModules();
    delete process.env['REGISTRY_URL'];
    await expect(import('../../lambdas/pipeline-register')).rejects.toThrow(/REGISTRY_URL/);
    vi.resetModules();
    await expect(import('../../lambdas/pipeline-validate')).rejects.toThrow(/LAKE_DATABASE/);
  });

  it('pipeline-validate plans a run from its environment and the event', async () => {
    vi.resetModules();
    Object.assign(process.env, {
      LAKE_TABLES: JSON.stringify([WINE_TABLE]),
      LAKE_DATABASE: 'mlops_test',
      RAW_BUCKET: BUCKETS.raw,
      ARTIFACTS_BUCKET: BUCKETS.artifacts,
      FEATURES_LOCATION: `s3://${BUCKETS.curated}/features/`,
      FEATURE_STORE_LOCATION: `s3://${BUCKETS.curated}/features/`,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    const { handler } = await import('../../lambdas/pipeline-validate');
    const plan = await handler({
      input: { dataset: 'winequality_red_raw', target: 'quality' },
      execution: 'h-1',
    });
    expect(plan).toMatchObject({ execution: 'h-1', model_name: 'winequality-red', rows: 1599 });
    expect(await s3.keys(BUCKETS.artifacts)).toContain('runs/winequality-red/h-1/profile.json');
  });
});

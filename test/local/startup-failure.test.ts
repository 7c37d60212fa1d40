/**
 * The first start's materialization and training pipeline run at the same time (`runStartup`):
 * when one fails, the other still ends before start-up reports the failure, so nothing is left
 * running or half-done behind the error `mlops up` prints.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalPlatform, startPlatform } from '../../lib/local/platform';
import { runStartup } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-startup-failure-'));
let platform: LocalPlatform;

beforeAll(async () => {
  synthLocalStage(stateDir);
  platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });
}, 300_000);

afterAll(async () => {
  await platform?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('the first start when materialization fails', () => {
  it('fails with materialization\'s error only after the training pipeline has registered, promoted and served its model', async () => {
    const dynamodb = new DynamoDBClient({
      endpoint: platform.info.dynamodbEndpoint,
      region: platform.info.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const { TableNames = [] } = await dynamodb.send(new ListTablesCommand({}));
    const online = TableNames.filter((t) => /online/i.test(t));
    expect(online).toHaveLength(1);
    // Materialization's writes now fail; training never touches the online store.
    await dynamodb.send(new DeleteTableCommand({ TableName: online[0] }));

    const lines: string[] = [];
    await expect(runStartup(platform, { log: (l) => lines.push(l) })).rejects.toThrow(/^materialization FAILED/);
    // Materialization failed in well under the training pipeline's time, yet the error came after it.
    expect(lines.map((l) => l.trim().split(':')[0])).toEqual(['seed example data', 'training pipeline', 'promote']);
    const res = await fetch(`${platform.gatewayUrl}/api/2.0/mlflow/registered-models/alias?name=wine-quality&alias=champion`);
    expect(((await res.json()) as { model_version: { version: string } }).model_version.version).toBe('1');
    expect(platform.serving.deployments).toMatchObject([{ deployment: 'wine-quality', version: '1' }]);
  }, 300_000);
});

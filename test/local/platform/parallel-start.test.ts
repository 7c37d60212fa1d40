/**
 * `startPlatform` given the synthesis rather than its result (as `mlops up` does): the engines that
 * need nothing from the assembly are up before it exists, and a synthesis that fails closes them
 * and releases the state dir.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoDb } from '../../../lib/local/dynamodb';
import { layout } from '../../../lib/local/layout';
import { acquireStateLock } from '../../../lib/local/lock';
import { startPlatform } from '../../../lib/local/platform';
import { FIXTURE_STAGE, synthFixture } from './fixture';

let assemblyDir: string;
const dirs: string[] = [];
beforeAll(() => {
  assemblyDir = synthFixture();
  dirs.push(assemblyDir);
}, 300_000);
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const stateDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'mlops-parallel-'));
  dirs.push(d);
  return d;
};

/** Resolves once `test` holds, polling; rejects after `ms`. */
async function until(test: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('startPlatform while the assembly is synthesized', () => {
  it('opens DynamoDB and DuckDB before the assembly exists, then serves it', async () => {
    // prepare: a synthesis that ends when the test says so
    const dir = stateDir();
    let finish!: (dir: string) => void;
    const synthesis = new Promise<string>((resolve) => (finish = resolve));
    // act
    const starting = startPlatform({ stateDir: dir, assemblyDir: synthesis, stageName: FIXTURE_STAGE });
    // assess: dynalite's LevelDB is open (its LOCK file) and DuckDB's temp dir made, the assembly still pending
    await until(() => existsSync(join(layout(dir).dynamodb, 'LOCK')) && existsSync(join(layout(dir).athena, 'tmp')), 60_000);
    finish(assemblyDir);
    const platform = await starting;
    try {
      const res = await fetch(`${platform.gatewayUrl}/hello/world`);
      expect(res.status).toBe(200);
      expect(platform.routes.length).toBeGreaterThan(0);
    } finally {
      await platform.close();
    }
  }, 120_000);

  it('closes what it started and releases the state dir when synthesis fails', async () => {
    // prepare
    const dir = stateDir();
    const synthesis = new Promise<string>((_, reject) =>
      setTimeout(() => reject(new Error('synthesis exited 1: boom')), 300),
    );
    // act
    await expect(startPlatform({ stateDir: dir, assemblyDir: synthesis, stageName: FIXTURE_STAGE })).rejects.toThrow(
      'synthesis exited 1: boom',
    );
    // assess: the lock is free and dynalite's LevelDB closed (it opens again)
    expect(readdirSync(layout(dir).dynamodb).length).toBeGreaterThan(0);
    acquireStateLock(dir).release();
    const again = await startDynamoDb({ stateDir: dir });
    await again.close();
  }, 120_000);

  it('fails with the assembly error, not an unhandled rejection, when the assembly is unreadable at once', async () => {
    // DuckDB is still starting when the error arrives (vitest fails the run on an unhandled rejection).
    const dir = stateDir();
    await expect(
      startPlatform({ stateDir: dir, assemblyDir: Promise.resolve(join(dir, 'no-assembly')), stageName: FIXTURE_STAGE }),
    ).rejects.toThrow(/is not a cloud assembly: it has no manifest\.json/);
    acquireStateLock(dir).release();
  }, 120_000);
});

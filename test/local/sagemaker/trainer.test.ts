/**
 * The trainer process the runner starts: the bundle is the Dockerfile's bundle, built once and
 * rebuilt when its sources change; and metric scraping follows SageMaker (last value wins).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  bundledTrainerCommand,
  ensureTrainerBundle,
  MetricScraper,
  TRAINER_BUNDLE_OPTIONS,
  tsxTrainerCommand,
} from '../../../lib/local/sagemaker';
import { METRIC_DEFINITIONS } from '../../../lib/trainer/contract';
import { WINE_SELECT, writeParquet } from '../../trainer/helpers';
import { REPO } from './helpers';

const run = promisify(execFile);

describe('the trainer bundle', () => {
  it('uses the esbuild flags of the Dockerfile’s build stage', async () => {
    const dockerfile = await readFile(join(REPO, 'lib', 'trainer', 'Dockerfile'), 'utf8');
    const line = dockerfile.split('\n').find((l) => l.startsWith('RUN npx esbuild '))!;
    const flags = line
      .split(/\s+/)
      .filter((a) => a.startsWith('--') && !a.startsWith('--outfile='))
      .sort();
    const ours = Object.entries(TRAINER_BUNDLE_OPTIONS)
      .flatMap(([k, v]) =>
        v === true ? [`--${k}`] : Array.isArray(v) ? v.map((x) => `--${k}:${x}`) : [`--${k}=${v}`],
      )
      .sort();
    expect(ours).toEqual(flags);
    expect(line).toContain(' lib/trainer/container.ts ');
  });

  it('is built once per state dir, reused while its sources are unchanged, rebuilt when they change', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'mlops-bundle-'));
    const bundle = await ensureTrainerBundle(stateDir);
    expect(bundle).toBe(join(stateDir, 'sagemaker', '.trainer', 'train.mjs'));
    const first = (await stat(bundle)).mtimeMs;
    // concurrent and repeated calls share the bundle
    expect(await Promise.all([ensureTrainerBundle(stateDir), ensureTrainerBundle(stateDir)])).toEqual([
      bundle,
      bundle,
    ]);
    expect((await stat(bundle)).mtimeMs).toBe(first);
    // a recorded input that no longer matches (as after an edit) → rebuilt
    const manifestFile = join(stateDir, 'sagemaker', '.trainer', 'train.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as {
      inputs: Record<string, { size: number }>;
    };
    const main = Object.keys(manifest.inputs).find((p) => p.endsWith(join('lib', 'trainer', 'main.ts')))!;
    expect(main).toBeDefined();
    manifest.inputs[main]!.size += 1;
    await writeFile(manifestFile, JSON.stringify(manifest));
    await new Promise((r) => setTimeout(r, 20));
    await ensureTrainerBundle(stateDir);
    expect((await stat(bundle)).mtimeMs).toBeGreaterThan(first);
  });

  it('reads a Parquet channel: DuckDB resolves through the state dir, wherever that is', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'mlops-bundle-'));
    const data = join(stateDir, 'data');
    await mkdir(data);
    await writeParquet(join(data, 'wine.parquet'), WINE_SELECT);
    const argv = bundledTrainerCommand(await ensureTrainerBundle(stateDir));
    const env = {
      PATH: process.env['PATH'],
      SM_CHANNEL_TRAIN: data,
      SM_MODEL_DIR: join(stateDir, 'model'),
      SM_OUTPUT_DIR: stateDir,
      SM_HPS: '{"target":"quality"}',
    };
    const { stdout } = await run(argv[0]!, argv.slice(1), { env, cwd: stateDir });
    expect(stdout).toMatch(/model written to .*\(11 features, 1599 rows, /);
  });

  it('runs the same trainer as the tsx command, with the same outcome', async () => {
    // Start-up time of the two is measured in bench/local, not asserted here.
    const stateDir = await mkdtemp(join(tmpdir(), 'mlops-bundle-'));
    const env = {
      PATH: process.env['PATH'],
      SM_CHANNEL_TRAIN: join(stateDir, 'none'),
      SM_OUTPUT_DIR: stateDir,
    };
    const runIt = async (argv: readonly string[]) =>
      run(argv[0]!, argv.slice(1), { env, cwd: stateDir }).catch((e) => e as { stderr: string });
    const bundled = await runIt(bundledTrainerCommand(await ensureTrainerBundle(stateDir)));
    const viaTsx = await runIt(tsxTrainerCommand());
    expect(bundled.stderr).toMatch(/^training failed: hyperparameter target is required/);
    expect(viaTsx.stderr).toBe(bundled.stderr);
  });
});

describe('metric scraping', () => {
  it('keeps the last value of each metric, in definition order, ignoring non-numbers', () => {
    const scraper = new MetricScraper(METRIC_DEFINITIONS);
    const t1 = new Date(1_000);
    const t2 = new Date(2_000);
    scraper.line('validation_r2=0.25;', t1);
    scraper.line('train_rmse=0.9;', t1);
    scraper.line('train_rmse=0.65;', t2);
    scraper.line('train_mae=abc;', t2);
    scraper.line('epoch 3: nothing to see', t2);
    expect(scraper.final()).toEqual([
      { MetricName: 'train:rmse', Value: 0.65, Timestamp: t2 },
      { MetricName: 'validation:r2', Value: 0.25, Timestamp: t1 },
    ]);
  });
});

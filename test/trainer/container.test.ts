/**
 * The trainer image cannot be built here (no Docker engine), so this test does what its build does:
 * it reads the esbuild command from lib/trainer/Dockerfile, runs it verbatim (output redirected to a
 * temporary file), copies the bundle alone into an empty directory (no node_modules within reach, as
 * in the runtime stage) and runs it as a process under the SageMaker contract.
 */
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../../lib/model/format';
import { REPO, WINE_CSV, WINE_SELECT, withTempDir, writeParquet } from './helpers';

const run = promisify(execFile);
const DOCKERFILE = join(REPO, 'lib', 'trainer', 'Dockerfile');

let dockerfile: string;
beforeAll(async () => {
  dockerfile = await readFile(DOCKERFILE, 'utf8');
});

/** The `RUN npx esbuild …` line of the Dockerfile, as an argument list for esbuild. */
function esbuildArgs(outfile: string): string[] {
  const line = dockerfile.split('\n').find((l) => /^RUN npx esbuild /.test(l));
  if (!line) throw new Error('the Dockerfile has no `RUN npx esbuild` line');
  const args = line
    .replace(/^RUN npx esbuild /, '')
    .trim()
    .split(/\s+/);
  const out = args.findIndex((a) => a.startsWith('--outfile='));
  expect(args[out]).toBe('--outfile=/out/train.mjs');
  args[out] = `--outfile=${outfile}`;
  return args;
}

/** The exec-form ENTRYPOINT and CMD of the runtime stage. */
const execForm = (instruction: string): string[] =>
  JSON.parse(new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(dockerfile)?.[1] ?? 'null') as string[];
const entrypoint = () => execForm('ENTRYPOINT');
const command = () => execForm('CMD');

/** The packages the Dockerfile's build stage copies from node_modules into the runtime stage. */
function bundledPackages(): string[] {
  return [...dockerfile.matchAll(/\bnode_modules\/((?:@[\w-]+\/)?[\w.-]+)(?= )/g)].map((m) => m[1]!);
}

/** Runs a command; resolves with its exit code and output instead of rejecting on a non-zero exit. */
async function exec(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  try {
    const { stdout, stderr } = await run(file, args, { ...options, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('trainer image (Dockerfile)', () => {
  it('is a two-stage linux/amd64 Node 24 build (slim, then distroless) whose exec-form entry runs /opt/ml/code/train.mjs', () => {
    expect(dockerfile.match(/^FROM --platform=linux\/amd64 node:24-bookworm-slim@sha256:[0-9a-f]{64} AS build$/gm)).toHaveLength(1);
    expect(dockerfile.match(/^FROM --platform=linux\/amd64 gcr\.io\/distroless\/nodejs24-debian12:nonroot@sha256:[0-9a-f]{64}$/gm)).toHaveLength(1);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^WORKDIR \/opt\/ml\/code$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/out\/train\.mjs \/opt\/ml\/code\/train\.mjs$/m);
    // `docker run <image> train`: the word `train` reaches the entry point as an argument.
    expect(entrypoint()).toEqual(['/nodejs/bin/node', '/opt/ml/code/train.mjs']);
    expect(command()).toEqual(['train']);
    // The runtime stage carries only DuckDB's packages beside the bundle, for linux-x64 (no dev dependencies).
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).not.toMatch(/npm (ci|install)/);
    expect(runtime.match(/node_modules.*/g)).toEqual(['node_modules /opt/ml/code/node_modules']);
    expect(bundledPackages()).toEqual([
      '@duckdb/node-api',
      '@duckdb/node-bindings',
      '@duckdb/node-bindings-linux-x64',
      'detect-libc',
    ]);
  });

  it('bundles with the Dockerfile command and trains as a standalone process under the contract', async () => {
    await withTempDir(async (dir) => {
      // prepare: the bundle, alone in a directory, like /opt/ml/code in the image
      const bundle = join(dir, 'bundle.mjs');
      await run(
        join(REPO, 'node_modules', '.bin', 'esbuild'),
        [...esbuildArgs(bundle), '--log-level=warning'],
        {
          cwd: REPO,
        },
      );
      const code = join(dir, 'code');
      await mkdir(code);
      await copyFile(bundle, join(code, 'train.mjs'));
      for (const pkg of bundledPackages())
        await cp(join(REPO, 'node_modules', pkg), join(code, 'node_modules', pkg), { recursive: true });
      const ml = join(dir, 'ml');
      await mkdir(join(ml, 'input', 'config'), { recursive: true });
      await mkdir(join(ml, 'input', 'data', 'train'), { recursive: true });
      await copyFile(WINE_CSV, join(ml, 'input', 'data', 'train', 'wine.csv'));
      await writeFile(
        join(ml, 'input', 'config', 'hyperparameters.json'),
        '{"target":"quality","alpha":"0.5"}',
      );
      const env = {
        PATH: process.env['PATH'],
        SM_INPUT_CONFIG_DIR: join(ml, 'input', 'config'),
        SM_CHANNEL_TRAIN: join(ml, 'input', 'data', 'train'),
        SM_MODEL_DIR: join(ml, 'model'),
        SM_OUTPUT_DATA_DIR: join(ml, 'output', 'data'),
      };
      // act: what `docker run <image> train` runs (ENTRYPOINT then CMD), with this node and this /opt/ml/code
      const [, script, ...entryArgs] = entrypoint();
      const ok = await exec(process.execPath, [script!.replace('/opt/ml/code', code), ...entryArgs, ...command()], {
        cwd: code,
        env,
      });
      // assess
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^train_rmse=[0-9.]+;$/m);
      const model = await loadModelDir(join(ml, 'model'));
      expect(model.hyperparameters.alpha).toBe(0.5);
      expect(model.metrics.train.rows).toBe(1599);

      // act again with bad data: exit 1, the reason in /opt/ml/output/failure, no model
      await writeFile(join(ml, 'input', 'data', 'train', 'wine.csv'), 'a;quality\n1;x\n');
      const failed = await exec(process.execPath, [join(code, 'train.mjs'), 'train'], {
        cwd: code,
        env: { ...env, SM_MODEL_DIR: join(ml, 'model2') },
      });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(
        /^training failed: train\/wine\.csv: line 2, column "quality": "x" is not a number$/m,
      );
      expect(await readFile(join(ml, 'output', 'failure'), 'utf8')).toBe(
        'train/wine.csv: line 2, column "quality": "x" is not a number\n',
      );
      await expect(readdir(join(ml, 'model2'))).rejects.toThrow(/ENOENT/);

      // act again on a Parquet channel: DuckDB loads from the packages beside the bundle
      await rm(join(ml, 'input', 'data', 'train', 'wine.csv'));
      await writeParquet(join(ml, 'input', 'data', 'train', 'wine.parquet'), WINE_SELECT);
      const parquet = await exec(process.execPath, [join(code, 'train.mjs'), 'train'], {
        cwd: code,
        env: { ...env, SM_MODEL_DIR: join(ml, 'model3') },
      });
      expect(parquet.stderr).toBe('');
      expect(parquet.code).toBe(0);
      const fromParquet = await loadModelDir(join(ml, 'model3'));
      expect(fromParquet.coefficients).toEqual(model.coefficients);
    });
  });
});

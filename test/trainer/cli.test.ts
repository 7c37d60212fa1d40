import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { buildProgram, EXIT, runProgram } from '../../lib/cli/program';
import { makeTrainCommands } from '../../lib/cli/train';
import { loadModelDir } from '../../lib/model/format';
import { WINE_CSV, withTempDir } from './helpers';

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

let processOut: MockInstance;
let processErr: MockInstance;
beforeEach(() => {
  // commander and runProgram write usage errors and help to the real streams; capture them.
  processOut = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  processErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function mlops(argv: string[], env: Record<string, string> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const program = buildProgram([
    makeTrainCommands({ env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }),
  ]);
  const code = await runProgram(program, argv);
  const real = (m: MockInstance) => m.mock.calls.map((c) => String(c[0])).join('');
  return { code, stdout: stdout + real(processOut), stderr: stderr + real(processErr) };
}

describe('mlops train', () => {
  it('trains with the convenience flags and prints the metric lines (exit 0)', async () => {
    await withTempDir(async (dir) => {
      const run = await mlops([
        'train',
        '--train',
        WINE_CSV,
        '--target',
        'quality',
        '--hyperparameters',
        '{"alpha": "0.5", "l1_ratio": 0.5}',
        '--model-dir',
        join(dir, 'model'),
      ]);
      expect(run.code).toBe(EXIT.ok);
      expect(run.stdout).toMatch(/^train_rmse=[0-9.]+;$/m);
      const model = await loadModelDir(join(dir, 'model'));
      expect(model.hyperparameters.alpha).toBe(0.5);
      expect(model.target).toBe('quality');
    });
  });

  it('with no flags follows the SM_* variables, like the container', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'config'));
      await writeFile(join(dir, 'config', 'hyperparameters.json'), '{"target":"quality","alpha":"1"}');
      const run = await mlops(['train'], {
        SM_INPUT_CONFIG_DIR: join(dir, 'config'),
        SM_CHANNEL_TRAIN: WINE_CSV,
        SM_MODEL_DIR: join(dir, 'm'),
      });
      expect(run.code).toBe(EXIT.ok);
      expect((await loadModelDir(join(dir, 'm'))).hyperparameters.alpha).toBe(1);
    });
  });

  it('prints one JSON document with --json', async () => {
    await withTempDir(async (dir) => {
      const run = await mlops([
        'train',
        '--train',
        WINE_CSV,
        '--target',
        'quality',
        '--model-dir',
        dir,
        '--json',
      ]);
      expect(run.code).toBe(EXIT.ok);
      const doc = JSON.parse(run.stdout);
      expect(doc.ok).toBe(true);
      expect(doc.model_file).toBe(join(dir, 'model.json'));
      expect(doc.model.features).toHaveLength(11);
    });
  });

  it('exits 1 with the reason when training fails, and writes the failure file only with --output-dir', async () => {
    await withTempDir(async (dir) => {
      const args = ['train', '--train', WINE_CSV, '--target', 'score', '--model-dir', join(dir, 'model')];
      const run = await mlops(args);
      expect(run.code).toBe(EXIT.failed);
      expect(run.stderr).toMatch(/training failed: .*the target column "score" is missing/);
      // Nothing at all was written: no model directory, no failure file, no /opt/ml/output.
      expect(await readdir(dir)).toEqual([]);

      const withOutput = await mlops([...args, '--output-dir', join(dir, 'out'), '--json']);
      expect(withOutput.code).toBe(EXIT.failed);
      expect(JSON.parse(withOutput.stdout)).toMatchObject({
        ok: false,
        failure_file: join(dir, 'out', 'failure'),
      });
      expect(await readFile(join(dir, 'out', 'failure'), 'utf8')).toMatch(/target column "score" is missing/);
    });
  });

  it('exits 2 on malformed --hyperparameters or an unknown flag', async () => {
    const bad = await mlops(['train', '--hyperparameters', '{alpha: 1}']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/--hyperparameters must be a JSON object, but it is not valid JSON/);
    expect((await mlops(['train', '--alpha', '1'])).code).toBe(EXIT.usage);
  });

  it('explains itself in --help, with an example', async () => {
    const run = await mlops(['train', '--help']);
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/Example:\n\s+\$ mlops train --train/);
    expect(run.stdout).toMatch(/--model-dir <dir>/);
  });
});

describe('mlops predict', () => {
  it('prints predictions to stdout or writes --output (exit 0)', async () => {
    await withTempDir(async (dir) => {
      const model = join(dir, 'model');
      expect(
        (await mlops(['train', '--train', WINE_CSV, '--target', 'quality', '--model-dir', model])).code,
      ).toBe(0);
      processOut.mockClear();
      const run = await mlops(['predict', '--model-dir', model, '--input', WINE_CSV]);
      expect(run.code).toBe(EXIT.ok);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(1600);
      expect(lines[0]).toMatch(/"quality";prediction$/);
      const file = join(dir, 'p.csv');
      expect(
        (await mlops(['predict', '--model-dir', model, '--input', WINE_CSV, '--output', file])).code,
      ).toBe(0);
      expect(await readFile(file, 'utf8')).toBe(run.stdout);
    });
  });

  it('exits 2 for a missing model, a missing feature or a missing flag', async () => {
    await withTempDir(async (dir) => {
      const noModel = await mlops(['predict', '--model-dir', join(dir, 'none'), '--input', WINE_CSV]);
      expect(noModel.code).toBe(EXIT.usage);
      expect(noModel.stderr).toMatch(/cannot read .*model\.json/);

      await mlops(['train', '--train', WINE_CSV, '--target', 'quality', '--model-dir', dir]);
      await writeFile(join(dir, 'in.csv'), 'alcohol,pH\n9.4,3.5\n');
      const missing = await mlops(['predict', '--model-dir', dir, '--input', join(dir, 'in.csv')]);
      expect(missing.code).toBe(EXIT.usage);
      expect(missing.stderr).toMatch(/the model needs features "fixed acidity", .* which are missing/);

      expect((await mlops(['predict', '--model-dir', dir])).code).toBe(EXIT.usage);
    });
  });
});

import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ContractError,
  dataVersion,
  formatMetricLines,
  HYPERPARAMETER_DEFAULTS,
  listChannelFiles,
  loadHyperparameters,
  METRIC_DEFINITIONS,
  parseHyperparameters,
  resolveContract,
} from '../../lib/trainer/contract';
import { withTempDir } from './helpers';

describe('resolveContract', () => {
  it('uses the SageMaker paths when nothing is set', () => {
    const c = resolveContract({});
    expect(c.hyperparametersFile).toBe('/opt/ml/input/config/hyperparameters.json');
    expect(c.trainChannel).toBe('/opt/ml/input/data/train');
    expect(c.validationChannel).toBe('/opt/ml/input/data/validation');
    expect(c.validationRequired).toBe(false);
    expect(c.modelDir).toBe('/opt/ml/model');
    expect(c.failureFile).toBe('/opt/ml/output/failure');
    expect(c.hyperparametersJson).toBeUndefined();
  });

  it('honours every SM_* override', () => {
    const c = resolveContract({
      SM_INPUT_CONFIG_DIR: '/x/config',
      SM_CHANNEL_TRAIN: '/x/train',
      SM_CHANNEL_VALIDATION: '/x/val',
      SM_MODEL_DIR: '/x/model',
      SM_OUTPUT_DATA_DIR: '/x/out/data',
      SM_HPS: '{"target":"t"}',
      MLOPS_DATA_VERSION: '{}',
    });
    expect(c.hyperparametersFile).toBe('/x/config/hyperparameters.json');
    expect(c.trainChannel).toBe('/x/train');
    expect(c.validationChannel).toBe('/x/val');
    expect(c.validationRequired).toBe(true);
    expect(c.modelDir).toBe('/x/model');
    // The failure file lives next to the data dir, in its parent: /opt/ml/output/{data,failure}.
    expect(c.failureFile).toBe('/x/out/failure');
    expect(c.hyperparametersJson).toBe('{"target":"t"}');
    expect(c.dataVersionJson).toBe('{}');
  });

  it('lets SM_OUTPUT_DIR win over SM_OUTPUT_DATA_DIR, and explicit overrides win over both', () => {
    expect(resolveContract({ SM_OUTPUT_DIR: '/a', SM_OUTPUT_DATA_DIR: '/b/data' }).failureFile).toBe(
      '/a/failure',
    );
    const env = { SM_OUTPUT_DIR: '/a', SM_CHANNEL_TRAIN: '/env/train', SM_MODEL_DIR: '/env/model' };
    const c = resolveContract(env, { outputDir: '/flag', train: '/flag/train', modelDir: '/flag/model' });
    expect([c.failureFile, c.trainChannel, c.modelDir]).toEqual([
      '/flag/failure',
      '/flag/train',
      '/flag/model',
    ]);
    expect(resolveContract(env, { outputDir: null }).failureFile).toBeNull();
  });
});

describe('parseHyperparameters', () => {
  it('accepts SageMaker-style string values and applies scikit-learn defaults', () => {
    expect(
      parseHyperparameters({
        target: 'quality',
        alpha: '0.5',
        l1_ratio: '0.25',
        max_iter: '50',
        tol: '1e-6',
      }),
    ).toEqual({
      target: 'quality',
      alpha: 0.5,
      l1_ratio: 0.25,
      max_iter: 50,
      tol: 1e-6,
      precompute: 'auto',
    });
    expect(parseHyperparameters({ target: 'y' })).toEqual({ target: 'y', ...HYPERPARAMETER_DEFAULTS });
    expect(parseHyperparameters({ target: 'y', alpha: 2 }).alpha).toBe(2);
  });

  it('ignores keys SageMaker adds itself', () => {
    expect(
      parseHyperparameters({
        target: 'y',
        sagemaker_region: '"eu-west-1"',
        _tuning_objective_metric: 'validation:rmse',
      }).target,
    ).toBe('y');
  });

  it.each([
    [
      { target: 'y', alpha: 'abc' },
      'hyperparameter alpha must be a finite number ≥ 0, but "abc" was provided',
    ],
    [
      { target: 'y', alpha: '-0.5' },
      'hyperparameter alpha must be a finite number ≥ 0, but "-0.5" was provided',
    ],
    [{ target: 'y', alpha: '' }, 'hyperparameter alpha must be a finite number ≥ 0, but "" was provided'],
    [
      { target: 'y', l1_ratio: '1.5' },
      'hyperparameter l1_ratio must be a number between 0 and 1, but "1.5" was provided',
    ],
    [
      { target: 'y', max_iter: '10.5' },
      'hyperparameter max_iter must be an integer ≥ 1, but "10.5" was provided',
    ],
    [{ target: 'y', tol: true }, 'hyperparameter tol must be a finite number ≥ 0, but true was provided'],
    [{}, 'hyperparameter target is required'],
    [{ target: 3 }, 'hyperparameter target must be a column name, but 3 was provided'],
    [
      { target: 'y', alpah: '1' },
      'unknown hyperparameter "alpah"; known ones are target, alpha, l1_ratio, max_iter, tol, precompute',
    ],
    [[1, 2], 'hyperparameters must be a JSON object'],
  ])('fails if %j', (raw, message) => {
    expect(() => parseHyperparameters(raw)).toThrow(ContractError);
    expect(() => parseHyperparameters(raw)).toThrow(message);
  });

  it('reports every bad value at once', () => {
    expect(() => parseHyperparameters({ target: 'y', alpha: 'x', l1_ratio: '2' })).toThrow(
      /alpha must .*; .*l1_ratio must/,
    );
  });
});

describe('loadHyperparameters', () => {
  it('reads the file, lets SM_HPS win over it and overrides win over both', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'hyperparameters.json'), '{"target":"file","alpha":"0.1"}');
      expect(await loadHyperparameters(resolveContract({ SM_INPUT_CONFIG_DIR: dir }))).toMatchObject({
        target: 'file',
        alpha: 0.1,
      });
      const withHps = resolveContract({ SM_INPUT_CONFIG_DIR: dir, SM_HPS: '{"target":"hps","alpha":0.2}' });
      expect(await loadHyperparameters(withHps)).toMatchObject({ target: 'hps', alpha: 0.2 });
      const withOverrides = resolveContract(
        { SM_INPUT_CONFIG_DIR: dir },
        { hyperparameters: { alpha: '0.3' } },
      );
      expect(await loadHyperparameters(withOverrides)).toMatchObject({ target: 'file', alpha: 0.3 });
    });
  });

  it('fails if the file is not JSON or missing without any other source of a target', async () => {
    await withTempDir(async (dir) => {
      await expect(loadHyperparameters(resolveContract({ SM_INPUT_CONFIG_DIR: dir }))).rejects.toThrow(
        'hyperparameter target is required',
      );
      await writeFile(join(dir, 'hyperparameters.json'), '{"target": ');
      await expect(loadHyperparameters(resolveContract({ SM_INPUT_CONFIG_DIR: dir }))).rejects.toThrow(
        /hyperparameters\.json is not valid JSON/,
      );
      await expect(loadHyperparameters(resolveContract({ SM_HPS: 'nope' }))).rejects.toThrow(
        /SM_HPS is not valid JSON/,
      );
    });
  });
});

describe('listChannelFiles', () => {
  it('lists a directory recursively in path order, skipping hidden and _ files', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'b'));
      await writeFile(join(dir, 'b', 'part-1.csv'), '');
      await writeFile(join(dir, 'a.csv'), '');
      await writeFile(join(dir, '_SUCCESS'), '');
      await writeFile(join(dir, '.DS_Store'), '');
      const files = await listChannelFiles(dir, 'train');
      expect(files.map((f) => f.key)).toEqual(['train/a.csv', 'train/b/part-1.csv']);
      expect(await listChannelFiles(join(dir, 'a.csv'), 'train')).toEqual([
        { path: join(dir, 'a.csv'), key: 'train/a.csv' },
      ]);
    });
  });

  it('fails if the channel is missing or holds no data file', async () => {
    await withTempDir(async (dir) => {
      await expect(listChannelFiles(join(dir, 'nope'), 'train')).rejects.toThrow(
        `the train channel ${join(dir, 'nope')} does not exist`,
      );
      await writeFile(join(dir, '_SUCCESS'), '');
      await expect(listChannelFiles(dir, 'validation')).rejects.toThrow(
        `the validation channel ${dir} holds no data files`,
      );
    });
  });
});

describe('dataVersion', () => {
  it('hashes each file when the pipeline passed no version', () => {
    const bytes = new TextEncoder().encode('a,b\n1,2\n');
    expect(dataVersion(undefined, [{ key: 'train/x.csv', bytes }])).toEqual({
      source: 'local-files',
      objects: [{ key: 'train/x.csv', sha256: createHash('sha256').update('a,b\n1,2\n').digest('hex') }],
    });
  });

  it('records MLOPS_DATA_VERSION instead when set, and rejects a malformed one', () => {
    const v = { source: 's3://raw/wine/', objects: [{ key: 'wine/red.csv', version_id: 'v1' }] };
    expect(dataVersion(JSON.stringify(v), [])).toEqual(v);
    expect(() => dataVersion('{"source":"s3://x","objects":[]}', [])).toThrow(
      /MLOPS_DATA_VERSION must be .* objects/,
    );
    expect(() => dataVersion('{', [])).toThrow(/MLOPS_DATA_VERSION is not valid JSON/);
  });
});

describe('METRIC_DEFINITIONS', () => {
  it('captures every value formatMetricLines prints, and nothing from other lines', () => {
    const metrics = { rmse: 0.6512345678901234, mae: 1e-7, r2: -0.25, rows: 10 };
    const lines = [
      ...formatMetricLines('train', metrics),
      ...formatMetricLines('validation', { ...metrics, rmse: 2 }),
    ];
    const captured = Object.fromEntries(
      METRIC_DEFINITIONS.map((d) => {
        const hits = lines.map((l) => new RegExp(d.Regex).exec(l)).filter((m) => m !== null);
        expect(hits).toHaveLength(1);
        return [d.Name, Number(hits[0]![1])];
      }),
    );
    expect(captured).toEqual({
      'train:rmse': metrics.rmse,
      'train:mae': 1e-7,
      'train:r2': -0.25,
      'validation:rmse': 2,
      'validation:mae': 1e-7,
      'validation:r2': -0.25,
    });
  });
});

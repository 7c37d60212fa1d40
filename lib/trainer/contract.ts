/**
 * The SageMaker training-container contract, as the kit's trainer honours it: where inputs, the
 * model and the failure reason live, how hyperparameters arrive, how metrics are reported.
 *
 * | what | default path | override |
 * |---|---|---|
 * | hyperparameters | `/opt/ml/input/config/hyperparameters.json` | `SM_INPUT_CONFIG_DIR` (the directory), or `SM_HPS` (the JSON itself; wins over the file) |
 * | training data | `/opt/ml/input/data/train/` | `SM_CHANNEL_TRAIN` |
 * | validation data (optional) | `/opt/ml/input/data/validation/` | `SM_CHANNEL_VALIDATION` (then it must exist) |
 * | model | `/opt/ml/model/model.json` | `SM_MODEL_DIR` |
 * | failure reason | `/opt/ml/output/failure` | `SM_OUTPUT_DIR`, else the parent of `SM_OUTPUT_DATA_DIR` |
 * | data version | sha256 of each input file | `MLOPS_DATA_VERSION` (`{source, objects:[{key, version_id}]}`) |
 *
 * SageMaker passes every hyperparameter value as a string (`"0.5"`), so numbers are accepted as
 * numbers or numeric strings. A channel is a file or a directory; a directory's files are read in
 * path order, recursively, skipping names that start with `.` or `_` (editor files, Spark's
 * `_SUCCESS` markers).
 *
 * @example
 * const contract = resolveContract(process.env);
 * const hps = await loadHyperparameters(contract);
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, sep as pathSep } from 'node:path';
import { z } from 'zod';

/** Thrown for any violation of the contract; its message becomes the failure reason. */
export class ContractError extends Error {
  override readonly name = 'ContractError';
}

/** Environment variables as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

export const SAGEMAKER_DEFAULTS = {
  configDir: '/opt/ml/input/config',
  trainChannel: '/opt/ml/input/data/train',
  validationChannel: '/opt/ml/input/data/validation',
  modelDir: '/opt/ml/model',
  outputDir: '/opt/ml/output',
} as const;

/** Where everything is, resolved once from the environment and any explicit overrides. */
export interface Contract {
  /** The hyperparameters file (it may be absent: then the values come from `SM_HPS` or overrides). */
  readonly hyperparametersFile: string;
  /** `SM_HPS` as given, when set. */
  readonly hyperparametersJson: string | undefined;
  readonly trainChannel: string;
  readonly validationChannel: string;
  /** True when the validation channel was named explicitly, so its absence is an error. */
  readonly validationRequired: boolean;
  readonly modelDir: string;
  /** Where the failure reason is written, or null to write none (local runs without an output dir). */
  readonly failureFile: string | null;
  /** `MLOPS_DATA_VERSION` as given, when set. */
  readonly dataVersionJson: string | undefined;
  /** Hyperparameters that win over the file and `SM_HPS` (the CLI's `--target` and `--hyperparameters`). */
  readonly hyperparameterOverrides: Readonly<Record<string, unknown>>;
}

/** Explicit settings that win over the environment; what the CLI's convenience flags set. */
export interface ContractOverrides {
  readonly train?: string;
  readonly validation?: string;
  readonly modelDir?: string;
  /** A directory for the failure file; `null` writes none. @default from the environment */
  readonly outputDir?: string | null;
  readonly hyperparameters?: Readonly<Record<string, unknown>>;
}

/**
 * Resolves the contract's paths from environment variables and overrides.
 *
 * @example
 * resolveContract({ SM_CHANNEL_TRAIN: '/tmp/train', SM_MODEL_DIR: '/tmp/model' }).modelDir; // '/tmp/model'
 */
export function resolveContract(env: Env, overrides: ContractOverrides = {}): Contract {
  const set = (name: string) => (env[name] !== undefined && env[name] !== '' ? env[name] : undefined);
  const configDir = set('SM_INPUT_CONFIG_DIR') ?? SAGEMAKER_DEFAULTS.configDir;
  const outputDataDir = set('SM_OUTPUT_DATA_DIR');
  const envOutputDir = set('SM_OUTPUT_DIR') ?? (outputDataDir ? dirname(outputDataDir) : undefined);
  const outputDir =
    overrides.outputDir === null
      ? null
      : (overrides.outputDir ?? envOutputDir ?? SAGEMAKER_DEFAULTS.outputDir);
  const explicitValidation = overrides.validation ?? set('SM_CHANNEL_VALIDATION');
  return {
    hyperparametersFile: join(configDir, 'hyperparameters.json'),
    hyperparametersJson: set('SM_HPS'),
    trainChannel: overrides.train ?? set('SM_CHANNEL_TRAIN') ?? SAGEMAKER_DEFAULTS.trainChannel,
    validationChannel: explicitValidation ?? SAGEMAKER_DEFAULTS.validationChannel,
    validationRequired: explicitValidation !== undefined,
    modelDir: overrides.modelDir ?? set('SM_MODEL_DIR') ?? SAGEMAKER_DEFAULTS.modelDir,
    failureFile: outputDir === null ? null : join(outputDir, 'failure'),
    dataVersionJson: set('MLOPS_DATA_VERSION'),
    hyperparameterOverrides: overrides.hyperparameters ?? {},
  };
}

/** The trainer's hyperparameters with defaults applied (scikit-learn's `ElasticNet` defaults). */
export interface Hyperparameters {
  readonly target: string;
  readonly alpha: number;
  readonly l1_ratio: number;
  readonly max_iter: number;
  readonly tol: number;
  /**
   * Which solver path trains (`lib/trainer/stream.ts`): true streams the rows into Gram statistics
   * (constant memory, scikit-learn's `precompute=True`), false holds the matrix (the column path),
   * "auto" takes the Gram path from an estimated matrix of 64 MiB on, Parquet
   * (`GRAM_AUTO_MIN_MATRIX_BYTES`) or CSV (`GRAM_AUTO_MIN_CSV_MATRIX_BYTES`).
   */
  readonly precompute: 'auto' | boolean;
}

export const HYPERPARAMETER_DEFAULTS = {
  alpha: 1.0,
  l1_ratio: 0.5,
  max_iter: 1000,
  tol: 1e-4,
  precompute: 'auto',
} as const;

/** A number given as a number or a numeric string, checked by `ok`. */
function numberParam(name: string, expected: string, ok: (v: number) => boolean) {
  return z.unknown().transform((raw, ctx) => {
    const v =
      typeof raw === 'number'
        ? raw
        : typeof raw === 'string' && raw.trim() !== ''
          ? Number(raw.trim())
          : Number.NaN;
    if (!ok(v)) {
      ctx.addIssue({
        code: 'custom',
        message: `hyperparameter ${name} must be ${expected}, but ${JSON.stringify(raw)} was provided`,
      });
      return z.NEVER;
    }
    return v;
  });
}

export const hyperparametersSchema = z.object({
  target: z.unknown().transform((raw, ctx) => {
    if (typeof raw === 'string' && raw.trim() !== '') return raw.trim();
    ctx.addIssue({
      code: 'custom',
      message:
        raw === undefined
          ? 'hyperparameter target is required: the name of the column to predict, e.g. {"target": "quality"}'
          : `hyperparameter target must be a column name, but ${JSON.stringify(raw)} was provided`,
    });
    return z.NEVER;
  }),
  alpha: numberParam('alpha', 'a finite number ≥ 0', (v) => Number.isFinite(v) && v >= 0),
  l1_ratio: numberParam('l1_ratio', 'a number between 0 and 1', (v) => v >= 0 && v <= 1),
  max_iter: numberParam('max_iter', 'an integer ≥ 1', (v) => Number.isInteger(v) && v >= 1),
  tol: numberParam('tol', 'a finite number ≥ 0', (v) => Number.isFinite(v) && v >= 0),
  precompute: z.unknown().transform((raw, ctx) => {
    const v = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
    if (v === 'auto') return 'auto' as const;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    ctx.addIssue({
      code: 'custom',
      message: `hyperparameter precompute must be "auto", true or false, but ${JSON.stringify(raw)} was provided`,
    });
    return z.NEVER;
  }),
});

const KNOWN_HYPERPARAMETERS = Object.keys(hyperparametersSchema.shape);

/**
 * Validates raw hyperparameters (strings or numbers) and applies the defaults. Keys SageMaker adds
 * itself (`sagemaker_*`, and `_*` such as `_tuning_objective_metric`) are ignored; any other unknown
 * key is an error, because a misspelt `alpah` would otherwise train silently with the default.
 *
 * @example
 * parseHyperparameters({ target: 'quality', alpha: '0.5' }).alpha; // 0.5
 */
export function parseHyperparameters(raw: unknown): Hyperparameters {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ContractError(`hyperparameters must be a JSON object, but ${JSON.stringify(raw)} was provided`);
  }
  const own = Object.fromEntries(
    Object.entries(raw).filter(([k]) => !k.startsWith('sagemaker_') && !k.startsWith('_')),
  );
  const unknown = Object.keys(own).filter((k) => !KNOWN_HYPERPARAMETERS.includes(k));
  if (unknown.length > 0) {
    throw new ContractError(
      `unknown hyperparameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; ` +
        `known ones are ${KNOWN_HYPERPARAMETERS.join(', ')}`,
    );
  }
  // Defaults are filled in before parsing: zod 4 does not run a key's transform when the key is absent.
  const parsed = hyperparametersSchema.safeParse({ ...HYPERPARAMETER_DEFAULTS, target: undefined, ...own });
  if (!parsed.success) {
    throw new ContractError(parsed.error.issues.map((i) => i.message).join('; '));
  }
  return parsed.data as Hyperparameters;
}

/**
 * Reads the hyperparameters: `SM_HPS` if set, else the hyperparameters file (absent counts as `{}`),
 * then the contract's overrides on top, then validates.
 *
 * @example
 * const hps = await loadHyperparameters(resolveContract(process.env));
 */
export async function loadHyperparameters(contract: Contract): Promise<Hyperparameters> {
  let raw: unknown = {};
  if (contract.hyperparametersJson !== undefined) {
    raw = parseJson(contract.hyperparametersJson, 'SM_HPS');
  } else {
    let text: string | undefined;
    try {
      text = await readFile(contract.hyperparametersFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ContractError(`cannot read ${contract.hyperparametersFile}: ${(err as Error).message}`);
      }
    }
    if (text !== undefined) raw = parseJson(text, contract.hyperparametersFile);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ContractError(`hyperparameters must be a JSON object, but ${JSON.stringify(raw)} was provided`);
  }
  return parseHyperparameters({ ...raw, ...contract.hyperparameterOverrides });
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ContractError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
}

/** One input file of a channel. */
export interface ChannelFile {
  readonly path: string;
  /** The path relative to the channel, prefixed with the channel name: `train/part-0.csv`. */
  readonly key: string;
}

/**
 * A directory's data files, recursively, in path order; names starting with `.` or `_` (`_SUCCESS`,
 * editor files) are not data.
 *
 * @example
 * await listDataFiles('/opt/ml/input/data/train'); // ['/opt/ml/input/data/train/part-0.csv', …]
 */
export async function listDataFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name.startsWith('_')) continue;
      const path = join(d, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) files.push(path);
    }
  };
  await walk(dir);
  return files;
}

/**
 * Lists a channel's data files: the file itself, or a directory's files recursively in path order.
 *
 * @example
 * await listChannelFiles('/opt/ml/input/data/train', 'train'); // [{ path, key: 'train/wine.csv' }]
 */
export async function listChannelFiles(channel: string, name: string): Promise<ChannelFile[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(channel);
  } catch {
    throw new ContractError(`the ${name} channel ${channel} does not exist`);
  }
  if (info.isFile()) return [{ path: channel, key: `${name}/${channel.split(pathSep).pop()}` }];
  const files = (await listDataFiles(channel)).map((path) => ({
    path,
    key: `${name}/${relative(channel, path).split(pathSep).join('/')}`,
  }));
  if (files.length === 0) throw new ContractError(`the ${name} channel ${channel} holds no data files`);
  return files;
}

const dataVersionSchema = z.object({
  source: z.string().min(1),
  objects: z
    .array(
      z.object({ key: z.string().min(1), version_id: z.string().optional(), sha256: z.string().optional() }),
    )
    .min(1),
});

export type DataVersion = z.infer<typeof dataVersionSchema>;

/**
 * The data version recorded in the model: `MLOPS_DATA_VERSION` when the pipeline passed one (S3
 * keys with version ids), else each file's channel key with a sha256 of the bytes that were read.
 *
 * @example
 * dataVersion(undefined, [{ key: 'train/wine.csv', bytes }]); // { source: 'local-files', objects: [{ key, sha256 }] }
 */
export function dataVersion(
  envJson: string | undefined,
  files: readonly ({ readonly key: string } & ({ readonly bytes: Uint8Array } | { readonly sha256: string }))[],
): DataVersion {
  if (envJson !== undefined) {
    const parsed = dataVersionSchema.safeParse(parseJson(envJson, 'MLOPS_DATA_VERSION'));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ContractError(
        `MLOPS_DATA_VERSION must be {"source": "...", "objects": [{"key": "...", "version_id": "..."}]}, ` +
          `but ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      );
    }
    return parsed.data;
  }
  return {
    source: 'local-files',
    objects: files.map((f) => ({
      key: f.key,
      // A streaming reader hashes while it reads; the bytes themselves need not be held.
      sha256: 'sha256' in f ? f.sha256 : createHash('sha256').update(f.bytes).digest('hex'),
    })),
  };
}

/**
 * Metric definitions for the SageMaker training job (`AlgorithmSpecification.MetricDefinitions`):
 * each regex captures the value from the lines {@link formatMetricLines} prints.
 */
export const METRIC_DEFINITIONS: readonly { readonly Name: string; readonly Regex: string }[] = (
  ['train', 'validation'] as const
).flatMap((channel) =>
  (['rmse', 'mae', 'r2'] as const).map((metric) => ({
    Name: `${channel}:${metric}`,
    Regex: `${channel}_${metric}=([-+0-9.eE]+);`,
  })),
);

export interface RegressionMetrics {
  readonly rmse: number;
  readonly mae: number;
  readonly r2: number;
  readonly rows: number;
}

/**
 * One `channel_metric=value;` line per metric, the form {@link METRIC_DEFINITIONS} scrapes.
 *
 * @example
 * formatMetricLines('train', { rmse: 0.65, mae: 0.5, r2: 0.36, rows: 1599 }); // ['train_rmse=0.65;', …]
 */
export function formatMetricLines(channel: 'train' | 'validation', m: RegressionMetrics): string[] {
  return [`${channel}_rmse=${m.rmse};`, `${channel}_mae=${m.mae};`, `${channel}_r2=${m.r2};`];
}

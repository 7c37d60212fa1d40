/**
 * The training job: read the contract's inputs, fit, write `model.json`, report metrics. Everything
 * the container entry (`container.ts`) and `mlops train` do is here, as plain functions that take
 * the environment and a line sink, so tests drive them without spawning a process.
 *
 * On any failure the reason goes to the failure file (SageMaker shows it as the job's
 * `FailureReason`) and stderr, the exit code is 1, and no model is written: `model.json` appears
 * only after every step succeeded, by renaming a complete temporary file.
 *
 * @example
 * process.exitCode = await main(process.env);
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type LinearModel, MODEL_FILE, MODEL_FORMAT, parseModel } from '../model/format';
import {
  type ChannelFile,
  type Contract,
  type ContractOverrides,
  dataVersion,
  type Env,
  formatMetricLines,
  type Hyperparameters,
  type RegressionMetrics,
  listChannelFiles,
  loadHyperparameters,
  resolveContract,
} from './contract';
import { readDesignChannel, readTrainingChannel } from './columnar';
import { fitElasticNet } from './elasticnet';
import { matrixMetrics } from './metrics';
import { choosePath, type TrainingOutcome, trainOnGram } from './stream';

export interface TrainingJobOptions {
  /** @default process.env */
  readonly env?: Env;
  readonly overrides?: ContractOverrides;
  /** Receives each stdout line (metrics, summary). @default writes to process.stdout */
  readonly out?: (line: string) => void;
  /** Receives each stderr line (warnings, the failure reason). @default writes to process.stderr */
  readonly err?: (line: string) => void;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

export type TrainingJobResult =
  | { readonly ok: true; readonly exitCode: 0; readonly model: LinearModel; readonly modelFile: string }
  | {
      readonly ok: false;
      readonly exitCode: 1;
      readonly reason: string;
      readonly failureFile: string | null;
    };

/**
 * Trains under the contract and returns the model; throws on the first problem. No files written.
 *
 * @example
 * const { model } = await train(resolveContract(process.env), () => new Date());
 */
export async function train(contract: Contract, now: () => Date): Promise<{ model: LinearModel; simdFallback?: string }> {
  const hps: Hyperparameters = await loadHyperparameters(contract);
  const trainFiles = await listChannelFiles(contract.trainChannel, 'train');
  // A data version passed by the pipeline makes hashing the files needless.
  const hash = { hash: contract.dataVersionJson === undefined };

  let validationFiles: ChannelFile[] | undefined;
  if (contract.validationRequired) {
    validationFiles = await listChannelFiles(contract.validationChannel, 'validation');
  } else {
    try {
      validationFiles = await listChannelFiles(contract.validationChannel, 'validation');
    } catch {
      // The default validation path is optional: absent or empty means no validation channel.
    }
  }

  // Solver path selection (stream.ts): the Gram path streams the rows into statistics, the column
  // path holds the matrix; the `precompute` hyperparameter forces either.
  const trained =
    (await choosePath(hps.precompute, trainFiles)) === 'gram'
      ? await trainOnGram(trainFiles, validationFiles, hps, hash)
      : await trainOnColumns(trainFiles, validationFiles, hps, hash);
  const { fit, trainMetrics, validationMetrics } = trained;
  const model = parseModel(
    {
      format: MODEL_FORMAT,
      algorithm: 'elasticnet',
      features: trained.featureNames,
      target: trained.target,
      coefficients: Array.from(fit.coef),
      intercept: fit.intercept,
      hyperparameters: { alpha: hps.alpha, l1_ratio: hps.l1_ratio, max_iter: hps.max_iter, tol: hps.tol },
      metrics: { train: trainMetrics, ...(validationMetrics ? { validation: validationMetrics } : {}) },
      fit: { iterations: fit.iterations, converged: fit.converged, dual_gap: fit.dualGap, seconds: trained.seconds },
      data_version: dataVersion(contract.dataVersionJson, trained.versions),
      warnings: fit.warnings,
      created_at: now().toISOString(),
    },
    'the trained model',
  );
  // Why the fit ran the JavaScript kernels when it asked for SIMD (same results, slower): said, not silent.
  return { model, ...(fit.simdFallback === undefined ? {} : { simdFallback: fit.simdFallback }) };
}

/** The column path: the channel read into one float64 matrix, fitted by `fitElasticNet`. */
async function trainOnColumns(
  trainFiles: readonly ChannelFile[],
  validationFiles: readonly ChannelFile[] | undefined,
  hps: Hyperparameters,
  hash: { hash: boolean },
): Promise<TrainingOutcome> {
  const trainData = await readTrainingChannel(trainFiles, hps.target, hash);
  const set = trainData.set;
  const started = performance.now();
  const fit = fitElasticNet(set.X, set.y, {
    alpha: hps.alpha,
    l1Ratio: hps.l1_ratio,
    maxIter: hps.max_iter,
    tol: hps.tol,
    featureNames: set.featureNames,
    overwriteX: true,
  });
  const seconds = (performance.now() - started) / 1000;
  const coefficients = Array.from(fit.coef);
  // The fit centred X in place (no second copy of the matrix): b + X·w = (b + x̄·w) + (X − x̄)·w.
  let centredIntercept = fit.intercept;
  for (let j = 0; j < coefficients.length; j++) centredIntercept += fit.xMean[j]! * coefficients[j]!;
  const trainMetrics = matrixMetrics(set.X, set.y, coefficients, centredIntercept);

  let validationMetrics: RegressionMetrics | undefined;
  const versioned = [...trainData.versions];
  if (validationFiles) {
    // Validation files need only the model's columns, by name, in any order; extra columns are ignored.
    const validation = await readDesignChannel(validationFiles, set.featureNames, set.target, hash);
    const vset = validation.set;
    validationMetrics = matrixMetrics(vset.X, vset.y, coefficients, fit.intercept);
    versioned.push(...validation.versions);
  }
  return {
    featureNames: set.featureNames,
    target: set.target,
    fit,
    seconds,
    trainMetrics,
    ...(validationMetrics ? { validationMetrics } : {}),
    versions: versioned,
  };
}

/**
 * Writes `model.json` so that it either appears complete or not at all: a temporary file in the same
 * directory, then a rename (atomic within one file system).
 *
 * @example
 * const file = await writeModelAtomically('/opt/ml/model', model);
 */
export async function writeModelAtomically(modelDir: string, model: LinearModel): Promise<string> {
  await mkdir(modelDir, { recursive: true });
  const file = join(modelDir, MODEL_FILE);
  const tmp = join(modelDir, `.${MODEL_FILE}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(model, null, 2)}\n`);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return file;
}

/** Best effort: a failure to record the failure must not hide the original reason. */
async function writeFailure(file: string, reason: string, err: (line: string) => void): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${reason}\n`);
  } catch (e) {
    err(`could not write the failure reason to ${file}: ${(e as Error).message}`);
  }
}

/**
 * Runs one training job end to end and reports the outcome; never throws. On failure it writes the
 * failure file but leaves telling the user to the caller (the container and the CLI word it differently).
 *
 * @example
 * const result = await runTrainingJob({ env: { SM_CHANNEL_TRAIN: 'data/', SM_MODEL_DIR: 'model/', SM_HPS: '{"target":"y"}' } });
 * if (!result.ok) console.error(result.reason);
 */
export async function runTrainingJob(options: TrainingJobOptions = {}): Promise<TrainingJobResult> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = options.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  const contract = resolveContract(options.env ?? process.env, options.overrides);
  try {
    const { model, simdFallback } = await train(contract, options.now ?? (() => new Date()));
    const modelFile = await writeModelAtomically(contract.modelDir, model);
    for (const w of model.warnings) err(`warning: ${w}`);
    if (simdFallback !== undefined) err(`note: the fit ran the JavaScript kernels, not SIMD (same results, slower): ${simdFallback}`);
    for (const line of formatMetricLines('train', model.metrics.train)) out(line);
    if (model.metrics.validation)
      for (const line of formatMetricLines('validation', model.metrics.validation)) out(line);
    out(
      `model written to ${modelFile} (${model.features.length} features, ${model.metrics.train.rows} rows, ` +
        `${model.fit.iterations} iterations${model.fit.converged ? '' : ', NOT converged'})`,
    );
    return { ok: true, exitCode: 0, model, modelFile };
  } catch (e) {
    // Expected failures carry a message written for the user; anything else keeps its type name.
    const known =
      e instanceof Error &&
      ['ContractError', 'CsvError', 'ElasticNetError', 'ModelFormatError'].includes(e.name);
    const reason = known ? (e as Error).message : `internal error: ${(e as Error)?.stack ?? String(e)}`;
    if (contract.failureFile) await writeFailure(contract.failureFile, reason, err);
    return { ok: false, exitCode: 1, reason, failureFile: contract.failureFile };
  }
}

/**
 * The container's entry: the contract from the environment, metrics to stdout, exit code 0 or 1.
 *
 * @example
 * process.exitCode = await main(process.env);
 */
export async function main(env: Env = process.env): Promise<number> {
  const result = await runTrainingJob({ env });
  if (!result.ok) process.stderr.write(`training failed: ${result.reason}\n`);
  return result.exitCode;
}

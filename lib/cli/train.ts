/**
 * `mlops train` and `mlops predict`: the kit's trainer run as a local process under the same
 * SageMaker contract the training container honours, and batch prediction with a model directory.
 *
 * With no flags `mlops train` is exactly the container (the `/opt/ml` paths and `SM_*` variables).
 * The flags are conveniences that set the same contract: `--train` is `SM_CHANNEL_TRAIN`,
 * `--model-dir` is `SM_MODEL_DIR`, `--hyperparameters`/`--target` go over the hyperparameters. When
 * any flag is used, the failure file is written only with `--output-dir` (or `SM_OUTPUT_DIR`), so a
 * local run never creates `/opt/ml/output`.
 *
 * @example
 * mlops train --train lib/datasets/winequality-red.csv --target quality --model-dir .mlops/model
 * mlops predict --model-dir .mlops/model --input lib/datasets/winequality-red.csv --output predictions.csv
 * mlops predict --model-dir .mlops/model --input part-0.parquet part-1.parquet > predictions.csv
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { loadModelDir, ModelFormatError } from '../model/format';
import type { Env } from '../trainer/contract';
import { CsvError } from '../trainer/csv';
import { runTrainingJob } from '../trainer/main';
import { predictFiles } from '../trainer/predict';
import { CliError, type CommandModule, EXIT } from './program';

/** Where the commands read the environment and write their output; injectable for tests. */
export interface TrainCliIo {
  readonly env: Env;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Where `predict` streams its output (with back-pressure); without it the output goes to `stdout`. */
  readonly stdoutStream?: Writable;
}

interface TrainFlags {
  train?: string;
  validation?: string;
  target?: string;
  hyperparameters?: string;
  modelDir?: string;
  outputDir?: string;
  json?: boolean;
}

interface PredictFlags {
  modelDir: string;
  input: string[];
  output?: string;
}

function parseHyperparameterFlag(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(
      `--hyperparameters must be a JSON object, but it is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CliError(`--hyperparameters must be a JSON object, but ${text} was provided`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Builds the `train`/`predict` command module around an environment and output sinks.
 *
 * @example
 * const program = buildProgram([makeTrainCommands({ env: {}, stdout: (t) => out.push(t), stderr: () => {} })]);
 * await runProgram(program, ['predict', '--model-dir', 'model', '--input', 'in.csv']);
 */
export function makeTrainCommands(io: TrainCliIo): CommandModule {
  return (program) => {
    program
      .command('train')
      .description(
        'train the ElasticNet model under the SageMaker training contract (what the trainer image runs)',
      )
      .option('--train <csv|dir>', 'training data: a CSV file or a directory of CSV files (SM_CHANNEL_TRAIN)')
      .option(
        '--validation <csv|dir>',
        'validation data, scored with the trained model (SM_CHANNEL_VALIDATION)',
      )
      .option('--target <column>', 'the column to predict (the `target` hyperparameter)')
      .option('--hyperparameters <json>', 'hyperparameters as JSON, e.g. \'{"alpha": 0.5, "l1_ratio": 0.5}\'')
      .option('--model-dir <dir>', 'where model.json is written (SM_MODEL_DIR)')
      .option('--output-dir <dir>', 'where the failure reason is written on failure (SM_OUTPUT_DIR)')
      .option('--json', 'print the outcome as one JSON document on stdout instead of metric lines')
      .addHelpText(
        'after',
        `
Hyperparameters: target (required), alpha (default 1.0), l1_ratio (0.5), max_iter (1000), tol (1e-4),
precompute ("auto": rows streamed into Gram statistics at constant memory from an estimated 64 MiB
matrix on, ~400,000 rows × 21; true or false forces the Gram or the in-memory column path).
With no flags the SageMaker paths are used: /opt/ml/input/config/hyperparameters.json,
/opt/ml/input/data/{train,validation}/, /opt/ml/model, /opt/ml/output/failure (SM_* variables override).

Example:
  $ mlops train --train lib/datasets/winequality-red.csv --target quality \\
      --hyperparameters '{"alpha": 0.5, "l1_ratio": 0.5}' --model-dir .mlops/model
Exit codes: 0 trained, 1 training failed (reason on stderr), 2 bad flags.`,
      )
      .action(async (flags: TrainFlags) => {
        const hyperparameters = {
          ...(flags.hyperparameters !== undefined ? parseHyperparameterFlag(flags.hyperparameters) : {}),
          ...(flags.target !== undefined ? { target: flags.target } : {}),
        };
        const convenience = [
          flags.train,
          flags.validation,
          flags.target,
          flags.hyperparameters,
          flags.modelDir,
        ].some((f) => f !== undefined);
        const hasEnvOutput = Boolean(io.env['SM_OUTPUT_DIR'] || io.env['SM_OUTPUT_DATA_DIR']);
        const json = flags.json === true;
        const result = await runTrainingJob({
          env: io.env,
          overrides: {
            ...(flags.train !== undefined ? { train: flags.train } : {}),
            ...(flags.validation !== undefined ? { validation: flags.validation } : {}),
            ...(flags.modelDir !== undefined ? { modelDir: flags.modelDir } : {}),
            ...(flags.outputDir !== undefined
              ? { outputDir: flags.outputDir }
              : convenience && !hasEnvOutput
                ? { outputDir: null }
                : {}),
            hyperparameters,
          },
          // With --json, stdout carries the JSON document only; human lines move to stderr.
          out: (line) => (json ? io.stderr : io.stdout)(`${line}\n`),
          err: (line) => io.stderr(`${line}\n`),
        });
        if (json) {
          const doc = result.ok
            ? { ok: true, model_file: result.modelFile, model: result.model }
            : { ok: false, reason: result.reason, failure_file: result.failureFile };
          io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
        }
        if (!result.ok) throw new CliError(`training failed: ${result.reason}`, EXIT.failed);
      });

    program
      .command('predict')
      .description('predict every row of CSV and Parquet files with a trained model directory')
      .requiredOption('--model-dir <dir>', 'a model directory holding model.json')
      .requiredOption(
        '--input <files...>',
        "rows to predict: CSV (with a header) or Parquet files, or directories of them, with (at least) the model's feature columns",
      )
      .option('--output <file>', 'write the result here instead of stdout')
      .addHelpText(
        'after',
        `
The output is CSV: each input CSV line, unchanged, with a "prediction" column appended (a Parquet
row is written as the CSV line of its values); columns are matched to the model's features by name,
in any order, and extra columns (an id, the target) are kept. Several inputs give one output with the
first input's header; each must have the first one's columns. Input is read and output written as a
stream, so memory does not grow with the data. Nothing is written if an input is unusable: --output
appears complete or not at all, and stdout gets the output only after every input was checked.

Example:
  $ mlops predict --model-dir .mlops/model --input lib/datasets/winequality-red.csv --output predictions.csv
Exit codes: 0 done, 1 the output could not be written, 2 bad flags, a missing model or an unusable input.`,
      )
      .action(async (flags: PredictFlags) => {
        const usage = (err: unknown) =>
          err instanceof CsvError || err instanceof ModelFormatError ? new CliError(err.message, EXIT.usage) : err;
        const model = await loadModelDir(flags.modelDir).catch((err: unknown) => {
          throw usage(err);
        });
        if (flags.output === undefined) {
          // A check pass first (constant memory, no output), so a bad row late in the input leaves
          // stdout empty rather than cut short.
          try {
            for await (const piece of predictFiles(model, flags.input).chunks) void piece;
          } catch (err) {
            throw usage(err);
          }
          const run = predictFiles(model, flags.input);
          if (io.stdoutStream) {
            await pipeline(Readable.from(run.chunks), io.stdoutStream, { end: false });
          } else {
            for await (const piece of run.chunks) io.stdout(piece);
          }
          return;
        }
        // Written beside the target and renamed into place: the output appears complete or not at all.
        const tmp = join(dirname(flags.output), `.${basename(flags.output)}.${process.pid}.tmp`);
        const run = predictFiles(model, flags.input);
        try {
          await pipeline(Readable.from(run.chunks), createWriteStream(tmp));
          await rename(tmp, flags.output);
        } catch (err) {
          await rm(tmp, { force: true });
          if (err instanceof CsvError) throw usage(err);
          throw new CliError(`cannot write ${flags.output}: ${(err as Error).message}`, EXIT.failed);
        }
        io.stderr(`${run.rows()} predictions written to ${flags.output}\n`);
      });
  };
}

/**
 * The `train` and `predict` commands on the real process: `process.env`, stdout and stderr.
 *
 * @example
 * const program = buildProgram([trainCommands]);
 */
export const trainCommands: CommandModule = makeTrainCommands({
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stdoutStream: process.stdout,
});

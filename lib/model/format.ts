/**
 * The kit's model directory format: what the trainer writes to `/opt/ml/model` (SageMaker packs it
 * into `model.tar.gz`), and what the model server and `mlops predict` load.
 *
 * A model directory holds one file, `model.json`, that describes itself completely: feature names in
 * the order the coefficients use them, the target, the fitted parameters, the hyperparameters, the
 * training metrics and the data version it was trained on. Nothing else is needed to predict.
 *
 * @example
 * const model = await loadModelDir('/opt/ml/model');
 * const y = predictRow(model, [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4]);
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** The file name of the model description inside a model directory. */
export const MODEL_FILE = 'model.json';

/** The format tag written into every model description; bump the suffix on breaking changes. */
export const MODEL_FORMAT = 'mlops-kit/linear-model@1';

const metricsSchema = z.object({
  rmse: z.number(),
  mae: z.number(),
  r2: z.number(),
  rows: z.number().int().nonnegative(),
});

export const modelSchema = z
  .object({
    format: z.literal(MODEL_FORMAT),
    /** `elasticnet` for now; the server only needs `coefficients` and `intercept`. */
    algorithm: z.literal('elasticnet'),
    features: z.array(z.string().min(1)).min(1),
    target: z.string().min(1),
    coefficients: z.array(z.number()),
    intercept: z.number(),
    hyperparameters: z.object({
      alpha: z.number(),
      l1_ratio: z.number(),
      max_iter: z.number().int(),
      tol: z.number(),
    }),
    /** Metrics on the training channel, and on the validation channel when one was given. */
    metrics: z.object({ train: metricsSchema, validation: metricsSchema.optional() }),
    /** Solver facts: iterations run, whether the tolerance was met, the final duality gap. */
    fit: z.object({
      iterations: z.number().int().nonnegative(),
      converged: z.boolean(),
      dual_gap: z.number(),
      seconds: z.number().nonnegative(),
    }),
    /**
     * Where the training data came from and which version of it was read: for S3 inputs the object
     * keys with their version ids; for local files their paths with a sha256 of their bytes.
     */
    data_version: z
      .object({
        source: z.string(),
        objects: z.array(
          z.object({ key: z.string(), version_id: z.string().optional(), sha256: z.string().optional() }),
        ),
      })
      .nullable(),
    warnings: z.array(z.string()).default([]),
    created_at: z.string(),
  })
  .refine((m) => m.coefficients.length === m.features.length, {
    message: 'coefficients must have one entry per feature',
  });

export type LinearModel = z.infer<typeof modelSchema>;

/** Thrown when a model directory is missing, unreadable or not in the kit's format. */
export class ModelFormatError extends Error {
  override readonly name = 'ModelFormatError';
}

/** Parses and validates a model description already read into memory. */
export function parseModel(json: unknown, where = 'model'): LinearModel {
  const parsed = modelSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(root)';
    throw new ModelFormatError(`${where} is not a ${MODEL_FORMAT} model: ${path}: ${issue?.message}`);
  }
  return parsed.data;
}

/** Loads `model.json` from a model directory. */
export async function loadModelDir(dir: string): Promise<LinearModel> {
  const file = join(dir, MODEL_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ModelFormatError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelFormatError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseModel(json, file);
}

/** Predicts one row whose values are in the model's feature order. */
export function predictRow(model: LinearModel, row: ArrayLike<number>): number {
  const w = model.coefficients;
  let y = model.intercept;
  for (let j = 0; j < w.length; j++) y += w[j]! * row[j]!;
  return y;
}

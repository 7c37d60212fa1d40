/**
 * "Evaluate model": scores the candidate (`model.tar.gz` from the training job) on the holdout
 * split, and the production model on the same rows when there is one, then decides whether the
 * candidate may be registered.
 *
 * The production model is re-scored on this run's holdout rather than compared by the metrics it
 * logged when it was trained: those came from an older holdout, and a model can only be said to be
 * better than another on the same rows. Its logged metrics are the fallback when its artifact
 * cannot be read (another bucket, an older format).
 *
 * The verdict is computed here, in one tested function, and the state machine's Choice branches
 * on it: the thresholds are optional and the production model may be absent, which as Choice rules
 * would be an `IsPresent` guard per comparison, and the rejection notice needs the reasons in words.
 *
 * @example
 * const result = await evaluateCandidate({ model_uri, holdout_uri, thresholds: { max_rmse: 0.8 } }, { objects });
 * result.verdict; // { passed: true, reasons: [] }
 */
import type { LinearModel } from '../model/format';
import { readModelFromArchive } from '../model/archive';
import { CsvError, parseCsv, toDesign } from '../trainer/csv';
import { predictMatrix, regressionMetrics } from '../trainer/metrics';
import { parseS3Uri } from './catalog';
import { DataValidationError } from './errors';
import type { Thresholds } from './input';
import type { ObjectStore } from './objects';
import type { ProductionModel } from './register';

export interface Metrics {
  readonly rmse: number;
  readonly mae: number;
  readonly r2: number;
  readonly rows: number;
}

export interface EvaluateRequest {
  readonly model_uri: string;
  readonly holdout_uri: string;
  readonly thresholds: Thresholds;
}

export interface ProductionComparison {
  readonly version: string;
  /** `rescored`: on this holdout; `logged`: the metrics its own run logged. */
  readonly basis: 'rescored' | 'logged';
  readonly rmse?: number;
  readonly mae?: number;
  readonly r2?: number;
  readonly note?: string;
}

export interface Verdict {
  readonly passed: boolean;
  /** Why it failed, one sentence per failed check (empty when passed). */
  readonly reasons: readonly string[];
  /** One line for the console and the notification. */
  readonly summary: string;
}

export interface Evaluation {
  readonly metrics: Metrics;
  readonly production: ProductionComparison | null;
  readonly verdict: Verdict;
}

export interface EvaluateDeps {
  readonly objects: ObjectStore;
  /** Looks up the model in production; absent when no registry is configured. */
  readonly production?: () => Promise<ProductionModel | null>;
}

const fmt = (v: number) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(3));

/** The gate: thresholds first, then "no worse than production" on RMSE. */
export function gateVerdict(
  metrics: Metrics,
  thresholds: Thresholds,
  production: ProductionComparison | null,
): Verdict {
  const reasons: string[] = [];
  if (thresholds.max_rmse !== undefined && !(metrics.rmse <= thresholds.max_rmse)) {
    reasons.push(`holdout RMSE ${fmt(metrics.rmse)} is above max_rmse ${thresholds.max_rmse}`);
  }
  if (thresholds.max_mae !== undefined && !(metrics.mae <= thresholds.max_mae)) {
    reasons.push(`holdout MAE ${fmt(metrics.mae)} is above max_mae ${thresholds.max_mae}`);
  }
  if (thresholds.min_r2 !== undefined && !(metrics.r2 >= thresholds.min_r2)) {
    reasons.push(`holdout R² ${fmt(metrics.r2)} is below min_r2 ${thresholds.min_r2}`);
  }
  if (production?.rmse !== undefined && !(metrics.rmse <= production.rmse)) {
    reasons.push(
      `holdout RMSE ${fmt(metrics.rmse)} is worse than the production model's ${fmt(production.rmse)} (version ${production.version}, ${production.basis})`,
    );
  }
  const passed = reasons.length === 0;
  return {
    passed,
    reasons,
    summary: passed
      ? `accepted: holdout RMSE ${fmt(metrics.rmse)}, MAE ${fmt(metrics.mae)}, R² ${fmt(metrics.r2)} on ${metrics.rows} rows`
      : `rejected: ${reasons.join('; ')}`,
  };
}

/** Scores a model on holdout CSV text (header row, the model's features and target). */
export function scoreModel(model: LinearModel, holdoutCsv: string, source: string): Metrics {
  try {
    const table = parseCsv(holdoutCsv, { source, numericColumns: [...model.features, model.target] });
    const { X, y } = toDesign([table], model.features, model.target);
    return regressionMetrics(y, predictMatrix(X, model.coefficients, model.intercept));
  } catch (err) {
    if (err instanceof CsvError)
      throw new DataValidationError(`the holdout split cannot be scored: ${err.message}`);
    throw err;
  }
}

async function readModel(objects: ObjectStore, uri: string): Promise<LinearModel> {
  const { bucket, key } = parseS3Uri(uri, 'model_uri');
  return readModelFromArchive((await objects.get(bucket, key)).body, uri);
}

export async function evaluateCandidate(request: EvaluateRequest, deps: EvaluateDeps): Promise<Evaluation> {
  const model = await readModel(deps.objects, request.model_uri);
  const holdout = parseS3Uri(request.holdout_uri, 'holdout_uri');
  const holdoutCsv = Buffer.from((await deps.objects.get(holdout.bucket, holdout.key)).body).toString('utf8');
  const metrics = scoreModel(model, holdoutCsv, request.holdout_uri);

  let production: ProductionComparison | null = null;
  const current = deps.production ? await deps.production() : null;
  if (current) {
    let note: string | undefined;
    if (current.source && current.source !== request.model_uri) {
      try {
        const m = scoreModel(await readModel(deps.objects, current.source), holdoutCsv, request.holdout_uri);
        production = { version: current.version, basis: 'rescored', rmse: m.rmse, mae: m.mae, r2: m.r2 };
      } catch (err) {
        note = `not re-scored (${(err as Error).message}); compared by its logged metrics`;
      }
    }
    production ??= {
      version: current.version,
      basis: 'logged',
      ...current.logged,
      ...(note ? { note } : {}),
    };
  }
  return { metrics, production, verdict: gateVerdict(metrics, request.thresholds, production) };
}

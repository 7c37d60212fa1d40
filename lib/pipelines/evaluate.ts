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
 * The holdout is read as the UNLOAD left it, Parquet parts under a prefix, a row group at a time:
 * memory holds one row group, whatever the holdout's size (issue 19).
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
import { listParts, numericBlocks } from './parquet-parts';
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

/**
 * Scores a model on holdout CSV text held whole (header row, the model's features and target): the
 * reference the streaming scorer ({@link scoreHoldout}) is tested against, for small holdouts only.
 */
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

/**
 * A model's metrics accumulated row by row, in constant memory: each prediction sums its terms as
 * `predictMatrix` does (intercept, then the features in order, skipping zero weights), squared and
 * absolute errors add up in row order as `regressionMetrics` adds them, and the target's sum of
 * squares about its mean is Welford's running update instead of a second pass over the rows (within
 * 1e-12 of the two-pass value; tested).
 */
export class StreamingScore {
  private n = 0;
  private mean = 0;
  private sst = 0;
  private sse = 0;
  private sae = 0;

  constructor(private readonly model: LinearModel) {}

  /** Scores a block of rows: `columns[j]` the j-th feature's values, `y` the target's. */
  add(columns: readonly Float64Array[], y: Float64Array): void {
    const { coefficients: coef, intercept } = this.model;
    let { n, mean, sst, sse, sae } = this;
    for (let i = 0; i < y.length; i++) {
      let p = intercept;
      for (let j = 0; j < columns.length; j++) {
        const w = coef[j]!;
        if (w !== 0) p += w * columns[j]![i]!;
      }
      const yi = y[i]!;
      const e = yi - p;
      sse += e * e;
      sae += Math.abs(e);
      n++;
      const d = yi - mean;
      mean += d / n;
      sst += d * (yi - mean);
    }
    Object.assign(this, { n, mean, sst, sse, sae });
  }

  metrics(): Metrics {
    const { n, sse, sae, sst } = this;
    if (n === 0) throw new DataValidationError('the holdout split has no rows to score');
    const r2 = sst === 0 ? (sse === 0 ? 1 : 0) : 1 - sse / sst;
    return { rmse: Math.sqrt(sse / n), mae: sae / n, r2, rows: n };
  }
}

/**
 * Scores models on the holdout parts in one pass, a row group at a time. The first model must find
 * its columns (else a {@link DataValidationError}); a later one that does not is answered with the
 * reason instead of metrics.
 */
export async function scoreHoldout(
  objects: ObjectStore,
  holdoutUri: string,
  models: readonly LinearModel[],
): Promise<(Metrics | { readonly error: string })[]> {
  const parts = await listParts(objects, holdoutUri, 'the holdout split');
  const columns = [...new Set(models.flatMap((m) => [...m.features, m.target]))];
  const scores = models.map((m) => ({
    score: new StreamingScore(m),
    at: [...m.features, m.target].map((c) => columns.indexOf(c)),
    error: undefined as string | undefined,
  }));
  for await (const block of numericBlocks(objects, parts, columns)) {
    for (const [k, s] of scores.entries()) {
      if (s.error !== undefined) continue;
      const missing = s.at.filter((c) => block.values[c] === undefined).map((c) => columns[c]!);
      if (missing.length > 0) {
        s.error = `${block.source} has no column ${missing.map((c) => `"${c}"`).join(', ')} of the model`;
        if (k === 0) throw new DataValidationError(`the holdout split cannot be scored: ${s.error}`);
        continue;
      }
      const vals = s.at.map((c) => block.values[c]!);
      s.score.add(vals.slice(0, -1), vals.at(-1)!);
    }
  }
  return scores.map((s) => (s.error !== undefined ? { error: s.error } : s.score.metrics()));
}

export async function evaluateCandidate(request: EvaluateRequest, deps: EvaluateDeps): Promise<Evaluation> {
  const model = await readModel(deps.objects, request.model_uri);
  const current = deps.production ? await deps.production() : null;
  let note: string | undefined;
  let other: LinearModel | undefined;
  if (current?.source && current.source !== request.model_uri) {
    try {
      other = await readModel(deps.objects, current.source);
    } catch (err) {
      note = `not re-scored (${(err as Error).message}); compared by its logged metrics`;
    }
  }
  // One pass over the holdout scores the candidate and the production model together.
  const [metrics, rescored] = await scoreHoldout(deps.objects, request.holdout_uri, other ? [model, other] : [model]);
  if (!metrics || 'error' in metrics) throw new DataValidationError(`the holdout split cannot be scored`);

  let production: ProductionComparison | null = null;
  if (current) {
    if (rescored && !('error' in rescored)) {
      production = { version: current.version, basis: 'rescored', rmse: rescored.rmse, mae: rescored.mae, r2: rescored.r2 };
    } else if (rescored) {
      note = `not re-scored (${rescored.error}); compared by its logged metrics`;
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

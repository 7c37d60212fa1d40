/**
 * Model quality once labels arrive: the predictions a model served in a window, joined by request
 * id with the labels the lake holds, scored per model version (RMSE, MAE, R²) and judged against
 * the environment's thresholds. The join and the sums run in Athena (one row per version comes
 * back, never the window's rows); this core writes that SQL, validates the run's input and turns
 * the aggregates into verdicts, metrics and events. It knows nothing of Lambda, Athena's API or
 * CloudWatch: the handlers give it ports.
 *
 * Labels: `prediction_labels` (JSON Lines under the raw zone's `labels/`): `request_id`, `label`,
 * `ts`, and `row` for a multi-row request (0 when absent); the latest label of a (request, row)
 * wins. Seldon feedback carrying a `truth` of one number counts as a label too (the request log
 * keeps feedback whole).
 *
 * @example
 * const input = parseQualityInput(event, new Date(), 24);
 * const sql = qualitySql({ database: 'mlops_local', logTable: 'prediction_log', labelsTable: 'prediction_labels', model: input.model, window: input.window });
 * const report = evaluateQuality(input, rowsFromAthena, thresholds);
 */
import { ident } from '../shared/sql';

/** A run's window: `[start, end)` as ISO 8601 UTC, and the `dt` partitions it touches. */
export interface QualityWindow {
  readonly start: string;
  readonly end: string;
  readonly days: readonly string[];
}

export interface QualityInput {
  readonly model: string;
  /** The model's deployment (its request log's `deployment` partition). */
  readonly deployment: string;
  readonly window: QualityWindow;
}

export interface QualityThresholds {
  readonly rmseMax: number;
  readonly maeMax: number;
  readonly r2Min: number;
  readonly minLabeled: number;
}

/** A run's input is not one it can serve (bad window, bad model name): nothing is queried or written. */
export class QualityInputError extends Error {
  override readonly name = 'QualityInputError';
}

/** The longest window a run may ask for: its `dt` partitions are listed in the query. */
export const MAX_WINDOW_DAYS = 31;
const MODEL = /^[A-Za-z0-9._-]{1,128}$/;
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** The deployment a model is served as (the Kubernetes name the serving code gives it). */
export function deploymentOf(model: string): string {
  return model
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function time(what: string, value: unknown): Date {
  if (typeof value !== 'string' || !ISO.test(value) || Number.isNaN(Date.parse(value))) {
    throw new QualityInputError(
      `${what} must be an ISO 8601 date or UTC time such as 2026-12-04 or 2026-12-04T10:00:00Z, but ${JSON.stringify(value)} was provided`,
    );
  }
  return new Date(value);
}

/**
 * Validates a run's input `{ model, start?, end? }`: `end` defaults to `now`, `start` to
 * `defaultHours` before `end`.
 */
export function parseQualityInput(input: unknown, now: Date, defaultHours: number): QualityInput {
  const o = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  if (typeof o.model !== 'string' || !MODEL.test(o.model) || deploymentOf(o.model) === '') {
    throw new QualityInputError(
      `model must be a registered model name (letters, digits, '.', '_', '-'), but ${JSON.stringify(o.model)} was provided`,
    );
  }
  const end = o.end === undefined || o.end === null ? now : time('end', o.end);
  const start =
    o.start === undefined || o.start === null ? new Date(end.getTime() - defaultHours * 3_600_000) : time('start', o.start);
  if (start.getTime() >= end.getTime()) {
    throw new QualityInputError(
      `start must be before end, but start ${start.toISOString()} and end ${end.toISOString()} were provided`,
    );
  }
  if (end.getTime() - start.getTime() > MAX_WINDOW_DAYS * 86_400_000) {
    throw new QualityInputError(
      `the window must be at most ${MAX_WINDOW_DAYS} days, but ${start.toISOString()} to ${end.toISOString()} was provided`,
    );
  }
  const days: string[] = [];
  for (let t = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()); t < end.getTime(); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return { model: o.model, deployment: deploymentOf(o.model), window: { start: start.toISOString(), end: end.toISOString(), days } };
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
/**
 * The first number of a feedback's `truth.data.ndarray` (the request log writes it with
 * `JSON.stringify`, so no spaces). A regular expression because Athena's `json_extract_scalar`
 * and DuckDB's `json_extract_string` share no name; both have `regexp_extract`.
 */
const FEEDBACK_TRUTH = '"ndarray":\\[\\[?(-?[0-9][0-9.eE+-]*)';

/**
 * The query: per version (and for all versions, `model_version = '*'`) the labeled count, RMSE,
 * MAE and R² (`1 − SSE / SST`, null when the labels do not vary). Portable between Athena and
 * DuckDB: no dialect functions beyond `max_by`, `sqrt`, `grouping`, `regexp_extract`, `TRY_CAST`.
 */
export function qualitySql(o: {
  readonly database: string;
  readonly logTable: string;
  readonly labelsTable: string;
  readonly input: QualityInput;
}): string {
  const { model, deployment, window } = o.input;
  const log = `${ident(o.database)}.${ident(o.logTable)}`;
  const labels = `${ident(o.database)}.${ident(o.labelsTable)}`;
  const inWindow = `deployment = ${lit(deployment)} AND dt IN (${window.days.map(lit).join(', ')}) AND ts >= ${lit(window.start)} AND ts < ${lit(window.end)}`;
  return `WITH predictions AS (
  SELECT version, request_id, "row", prediction FROM ${log}
  WHERE ${inWindow} AND model = ${lit(model)} AND prediction IS NOT NULL AND request_id IS NOT NULL
), feedback AS (
  SELECT request_id, 0 AS "row", TRY_CAST(regexp_extract(truth, ${lit(FEEDBACK_TRUTH)}, 1) AS double) AS label, ts FROM ${log}
  WHERE deployment = ${lit(deployment)} AND kind = 'feedback' AND request_id IS NOT NULL AND truth IS NOT NULL
), labels AS (
  SELECT request_id, "row", max_by(label, ts) AS label FROM (
    SELECT request_id, COALESCE("row", 0) AS "row", label, ts FROM ${labels} WHERE request_id IS NOT NULL
    UNION ALL SELECT request_id, "row", label, ts FROM feedback
  ) l WHERE label IS NOT NULL GROUP BY request_id, "row"
), joined AS (
  SELECT p.version, p.prediction - l.label AS e, l.label AS y
  FROM predictions p JOIN labels l ON l.request_id = p.request_id AND l."row" = p."row"
)
SELECT CASE WHEN grouping(version) = 1 THEN '*' ELSE version END AS model_version,
  count(*) AS labeled,
  sqrt(avg(e * e)) AS rmse,
  avg(abs(e)) AS mae,
  CASE WHEN sum(y * y) - sum(y) * sum(y) / count(*) > 0
    THEN 1 - sum(e * e) / (sum(y * y) - sum(y) * sum(y) / count(*)) END AS r2
FROM joined
GROUP BY GROUPING SETS ((version), ())
ORDER BY model_version`;
}

/** One row of the query's result, as Athena returns it (strings; empty for null). */
export type QualityRow = Readonly<Record<'model_version' | 'labeled' | 'rmse' | 'mae' | 'r2', string | undefined>>;

export type QualityStatus = 'ok' | 'below-threshold' | 'insufficient-labels';

export interface VersionQuality {
  /** `*` for all versions in the window together. */
  readonly version: string;
  readonly labeled: number;
  readonly rmse: number | null;
  readonly mae: number | null;
  readonly r2: number | null;
  readonly status: QualityStatus;
  /** Each threshold crossed, e.g. `RMSE 1.204 > rmseMax 0.9`. */
  readonly breaches: readonly string[];
}

export interface QualityReport {
  readonly model: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  /** `no-labels` when no prediction in the window has a label yet. */
  readonly status: QualityStatus | 'no-labels';
  readonly message: string;
  /** Per version, then `*` (all versions together). */
  readonly versions: readonly VersionQuality[];
}

const num = (v: string | undefined): number | null => (v === undefined || v === '' || v === null ? null : Number(v));
const fmt = (n: number) => Number(n.toPrecision(4)).toString();

/** Turns the query's rows into verdicts against the thresholds. */
export function evaluateQuality(input: QualityInput, rows: readonly QualityRow[], t: QualityThresholds): QualityReport {
  const versions = rows
    .map((r): VersionQuality => {
      const labeled = Number(r.labeled ?? 0);
      const rmse = num(r.rmse);
      const mae = num(r.mae);
      const r2 = num(r.r2);
      const breaches: string[] = [];
      if (rmse !== null && rmse > t.rmseMax) breaches.push(`RMSE ${fmt(rmse)} > rmseMax ${t.rmseMax}`);
      if (mae !== null && mae > t.maeMax) breaches.push(`MAE ${fmt(mae)} > maeMax ${t.maeMax}`);
      if (r2 !== null && r2 < t.r2Min) breaches.push(`R2 ${fmt(r2)} < r2Min ${t.r2Min}`);
      const status: QualityStatus =
        labeled < t.minLabeled ? 'insufficient-labels' : breaches.length > 0 ? 'below-threshold' : 'ok';
      return { version: r.model_version ?? '*', labeled, rmse, mae, r2, status, breaches };
    })
    .filter((v) => v.labeled > 0)
    // Versions in numeric order, all-versions last.
    .sort((a, b) => (a.version === '*' ? 1 : b.version === '*' ? -1 : Number(a.version) - Number(b.version)));
  const base = { model: input.model, windowStart: input.window.start, windowEnd: input.window.end, versions };
  if (versions.length === 0) {
    return {
      ...base,
      status: 'no-labels',
      message: `no labeled predictions of ${input.model} from ${input.window.start} to ${input.window.end}: no metrics published`,
    };
  }
  const own = versions.filter((v) => v.version !== '*');
  const below = own.filter((v) => v.status === 'below-threshold');
  if (below.length > 0) {
    return {
      ...base,
      status: 'below-threshold',
      message: below.map((v) => `${input.model} v${v.version}: ${v.breaches.join(', ')}`).join('; '),
    };
  }
  if (own.every((v) => v.status === 'insufficient-labels')) {
    return {
      ...base,
      status: 'insufficient-labels',
      message: `fewer than ${t.minLabeled} labeled predictions per version: metrics published, no verdict`,
    };
  }
  return { ...base, status: 'ok', message: `${input.model}: every version with enough labels is within the thresholds` };
}

/** Where the run's metrics go (CloudWatch Embedded Metric Format in the Lambda). */
export interface QualityMetricsPort {
  /**
   * One version's metrics (`version` undefined: the model's, all versions together), named as
   * `QUALITY_METRICS`. The scores are left out below `minLabeled`, so alarms never judge a handful
   * of labels.
   */
  publish(model: string, version: string | undefined, metrics: Readonly<Partial<Record<QualityMetric, number>>>): void;
}

export type QualityMetric = 'rmse' | 'mae' | 'r2' | 'labeled';

/** Where the run's events go (the platform's event bus). */
export interface QualityEventsPort {
  put(details: readonly QualityBelowThresholdDetail[]): Promise<void>;
}

/** The detail of `QUALITY_EVENT` (one per version below threshold). */
export interface QualityBelowThresholdDetail {
  readonly environment: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly labeled: number;
  readonly rmse: number | null;
  readonly mae: number | null;
  readonly r2: number | null;
  readonly breaches: readonly string[];
}

/**
 * Publishes a report: metrics per version and for the model (nothing when no labels), one event
 * per version below its thresholds.
 */
export async function publishQuality(
  report: QualityReport,
  environment: string,
  ports: { readonly metrics: QualityMetricsPort; readonly events: QualityEventsPort },
): Promise<{ readonly events: number }> {
  for (const v of report.versions) {
    const metrics: Partial<Record<QualityMetric, number>> = { labeled: v.labeled };
    if (v.status !== 'insufficient-labels') {
      if (v.rmse !== null) metrics.rmse = v.rmse;
      if (v.mae !== null) metrics.mae = v.mae;
      if (v.r2 !== null) metrics.r2 = v.r2;
    }
    ports.metrics.publish(report.model, v.version === '*' ? undefined : v.version, metrics);
  }
  const below = report.versions.filter((v) => v.version !== '*' && v.status === 'below-threshold');
  if (below.length > 0) {
    await ports.events.put(
      below.map((v) => ({
        environment,
        model: report.model,
        modelVersion: v.version,
        windowStart: report.windowStart,
        windowEnd: report.windowEnd,
        labeled: v.labeled,
        rmse: v.rmse,
        mae: v.mae,
        r2: v.r2,
        breaches: v.breaches,
      })),
    );
  }
  return { events: below.length };
}

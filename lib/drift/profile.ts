/**
 * The training-time baseline: a profile per feature (and of the model's output) built from value
 * counts, written as `baseline.json` next to the model artifact and validated when read back.
 */
import { z } from 'zod';
import { PREDICTION_FEATURE } from '../shared/operations';
import { binCounts, ksStatistic, linspace, total, wassersteinDistance } from './stats';
import {
  BASELINE_SCHEMA,
  type Baseline,
  type BuildBaselineInput,
  type CategoryFrequency,
  type ColumnKind,
  type ColumnProfile,
  type ValueCounts,
} from './types';

/** Bad input to the drift core: malformed value counts, a malformed baseline, a missing column. */
export class DriftInputError extends Error {
  override readonly name = 'DriftInputError';
}

/** Distinct values kept per column before consecutive values are merged (see {@link mergeDistinct}). */
export const DEFAULT_MAX_DISTINCT = 10_000;
/** Columns with at most this many distinct values also carry their category frequencies. */
export const LOW_CARDINALITY = 20;
/** Evidently's `NUMBER_UNIQUE_AS_CATEGORICAL`: an integer column with at most 5 distinct values is categorical. */
export const CATEGORICAL_MAX_UNIQUE = 5;
/** The quantiles a profile records. */
export const PROFILE_QUANTILES = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1] as const;
/** Histogram bins of a profile: Sturges' rule, at most this many. */
export const MAX_HISTOGRAM_BINS = 30;

const describe = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v));

/**
 * Checks value counts as the caller's SQL should have produced them; throws {@link DriftInputError}
 * naming the first bad entry.
 */
export function checkValueCounts(input: unknown, what: string): ValueCounts {
  if (typeof input !== 'object' || input === null) {
    throw new DriftInputError(`${what} must be an object { values, counts }, but ${describe(input)} was provided`);
  }
  const { values, counts } = input as { values?: unknown; counts?: unknown };
  if (!Array.isArray(values) || !Array.isArray(counts)) {
    throw new DriftInputError(`${what} must have arrays 'values' and 'counts'`);
  }
  if (values.length !== counts.length) {
    throw new DriftInputError(
      `${what}.values and ${what}.counts must have the same length, but ${values.length} and ${counts.length} were provided`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new DriftInputError(`${what}.values[${i}] must be a finite number, but ${describe(v)} was provided`);
    }
    if (i > 0 && !(v > (values[i - 1] as number))) {
      throw new DriftInputError(
        `${what}.values must be distinct and ascending, but ${describe(values[i - 1])} is followed by ${describe(v)} at index ${i}`,
      );
    }
    const c = counts[i];
    if (typeof c !== 'number' || !Number.isSafeInteger(c) || c <= 0) {
      throw new DriftInputError(`${what}.counts[${i}] must be a positive integer, but ${describe(c)} was provided`);
    }
  }
  return { values: values as number[], counts: counts as number[] };
}

/**
 * Value counts of raw samples. NaN and ±Infinity are counted as nulls, as Evidently drops them.
 * For tests and small in-memory sets; the drift machine gets its counts from SQL.
 */
export function valueCounts(samples: Iterable<number>): ValueCounts & { readonly nulls: number } {
  const map = new Map<number, number>();
  let nulls = 0;
  for (const raw of samples) {
    if (!Number.isFinite(raw)) {
      nulls++;
      continue;
    }
    const v = raw === 0 ? 0 : raw; // -0 and 0 are one value, as in SQL
    map.set(v, (map.get(v) ?? 0) + 1);
  }
  const values = [...map.keys()].sort((a, b) => a - b);
  return { values, counts: values.map((v) => map.get(v)!), nulls };
}

/** Evidently's column type from the reference (see {@link ColumnKind}). */
export function columnKind(counts: ValueCounts): ColumnKind {
  const integers = counts.values.every((v) => Number.isInteger(v));
  if (!integers || counts.values.length > CATEGORICAL_MAX_UNIQUE) return 'numeric';
  return counts.values.length <= 2 ? 'binary' : 'categorical';
}

/** NumPy's default quantile (`np.quantile`, method 'linear') from counts. */
export function quantileOf(counts: ValueCounts, q: number): number {
  const n = total(counts);
  // NumPy's virtual index for alpha = beta = 1, in its own operation order.
  const index = n * q + (1 + q * (1 - 1 - 1)) - 1;
  const lower = Math.min(Math.max(Math.floor(index), 0), n - 1);
  const upper = Math.min(lower + 1, n - 1);
  const gamma = Math.min(Math.max(index - Math.floor(index), 0), 1);
  const a = nth(counts, lower);
  const b = nth(counts, upper);
  const diff = b - a;
  // NumPy's _lerp: interpolate from the nearer end for stability.
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

/** The k-th smallest value (0-based) of the column the counts describe. */
function nth(counts: ValueCounts, k: number): number {
  let seen = 0;
  for (let i = 0; i < counts.values.length; i++) {
    seen += counts.counts[i]!;
    if (k < seen) return counts.values[i]!;
  }
  return counts.values.at(-1)!;
}

/** Mean and population standard deviation (two passes, so no cancellation). */
export function moments(counts: ValueCounts): { mean: number; std: number } {
  const n = total(counts);
  let sum = 0;
  counts.values.forEach((v, i) => (sum += v * counts.counts[i]!));
  const mean = sum / n;
  let squares = 0;
  counts.values.forEach((v, i) => (squares += (v - mean) * (v - mean) * counts.counts[i]!));
  return { mean, std: Math.sqrt(squares / n) };
}

/** Equal-width bins over [min, max] by Sturges' rule (capped), NumPy's edges and bin rule. */
export function profileHistogram(counts: ValueCounts): { edges: number[]; counts: number[] } {
  const n = total(counts);
  let first = counts.values[0]!;
  let last = counts.values.at(-1)!;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const constant = counts.values.length === 1;
  const bins = constant ? 1 : Math.min(MAX_HISTOGRAM_BINS, Math.ceil(Math.log2(n) + 1));
  const edges = linspace(first, last, bins + 1);
  return { edges, counts: binCounts(counts, edges).counts };
}

/**
 * Caps a column's distinct values at `max`: consecutive values are merged into groups of about
 * equal mass (a group closes once the running count reaches its share of the total), each kept as
 * one point at the group's weighted mean, so the mean and the mass are preserved.
 *
 * What this costs a drift statistic computed from the merged reference, by the triangle inequality:
 * - Wasserstein: at most W(exact, merged), which is computed here exactly and stored
 *   (`approximation.wasserstein`); divided by the reference std it is typically ~(range/std)/max,
 *   i.e. below 1e-3 for max = 10,000, against a drift threshold of 0.1;
 * - KS statistic: at most D(exact, merged) (`approximation.ks`), at most the heaviest group's share
 *   of the rows (≈ 1/max unless one value alone is heavier, and then it is kept exactly). The
 *   KS p-value has no such simple bound; with the defaults KS only runs on references of ≤ 1,000
 *   rows, which never reach a cap of ≥ 1,000 distinct values.
 * - chi-square, Z-test and Jensen–Shannon on value shares run on ≤ 5 distinct values: never merged.
 */
export function mergeDistinct(counts: ValueCounts, max: number): { merged: ValueCounts; wasserstein: number; ks: number } {
  const n = total(counts);
  const values: number[] = [];
  const mass: number[] = [];
  let groupSum = 0;
  let groupCount = 0;
  let seen = 0;
  for (let i = 0; i < counts.values.length; i++) {
    const c = counts.counts[i]!;
    groupSum += counts.values[i]! * c;
    groupCount += c;
    seen += c;
    if (seen >= ((values.length + 1) * n) / max || i === counts.values.length - 1) {
      // A mean of values inside (previous group, next group) stays strictly between them.
      values.push(groupSum / groupCount);
      mass.push(groupCount);
      groupSum = 0;
      groupCount = 0;
    }
  }
  const merged = { values, counts: mass };
  return { merged, wasserstein: wassersteinDistance(counts, merged), ks: ksStatistic(counts, merged) };
}

/** The profile of one column from its value counts over the training rows. */
export function profileColumn(name: string, counts: ValueCounts, nulls = 0, maxDistinct = DEFAULT_MAX_DISTINCT): ColumnProfile {
  const checked = checkValueCounts(counts, `column '${name}'`);
  if (checked.values.length === 0) {
    throw new DriftInputError(`column '${name}' must have at least one non-null value in the reference, but it has none`);
  }
  if (!Number.isSafeInteger(nulls) || nulls < 0) {
    throw new DriftInputError(`nulls of column '${name}' must be a non-negative integer, but ${describe(nulls)} was provided`);
  }
  if (!Number.isSafeInteger(maxDistinct) || maxDistinct < 100) {
    throw new DriftInputError(`maxDistinct must be an integer ≥ 100, but ${describe(maxDistinct)} was provided`);
  }
  const count = total(checked);
  const { mean, std } = moments(checked);
  const unique = checked.values.length;
  const capped = unique > maxDistinct ? mergeDistinct(checked, maxDistinct) : null;
  const categories: CategoryFrequency[] | null =
    unique <= LOW_CARDINALITY
      ? checked.values.map((value, i) => ({ value, count: checked.counts[i]!, share: checked.counts[i]! / count }))
      : null;
  return {
    name,
    kind: columnKind(checked),
    count,
    nulls,
    mean,
    std,
    min: checked.values[0]!,
    max: checked.values.at(-1)!,
    quantiles: PROFILE_QUANTILES.map((q) => ({ q, value: quantileOf(checked, q) })),
    histogram: profileHistogram(checked),
    unique,
    distinct: capped ? capped.merged : { values: [...checked.values], counts: [...checked.counts] },
    distinctExact: capped === null,
    approximation: capped ? { wasserstein: capped.wasserstein, ks: capped.ks } : null,
    categories,
  };
}

/** The baseline of a training set: every feature's profile, and the prediction's when given. */
export function buildBaseline(input: BuildBaselineInput): Baseline {
  if (typeof input.model !== 'string' || input.model === '') {
    throw new DriftInputError(`model must be a non-empty string, but ${describe(input.model)} was provided`);
  }
  const names = Object.keys(input.columns);
  if (names.length === 0) throw new DriftInputError('columns must name at least one feature, but none were provided');
  for (const name of Object.keys(input.nulls ?? {})) {
    if (!names.includes(name)) throw new DriftInputError(`nulls names '${name}', which is not one of the columns (${names.join(', ')})`);
  }
  const features = names.map((name) =>
    profileColumn(name, input.columns[name]!, input.nulls?.[name] ?? 0, input.maxDistinct ?? DEFAULT_MAX_DISTINCT),
  );
  const rows = features[0]!.count + features[0]!.nulls;
  for (const f of features) {
    if (f.count + f.nulls !== rows) {
      throw new DriftInputError(
        `every column must describe the same rows: '${features[0]!.name}' has ${rows} (values + nulls), but '${f.name}' has ${f.count + f.nulls}`,
      );
    }
  }
  const prediction = input.prediction
    ? profileColumn(PREDICTION_FEATURE, input.prediction, 0, input.maxDistinct ?? DEFAULT_MAX_DISTINCT)
    : undefined;
  return {
    schema: BASELINE_SCHEMA,
    model: input.model,
    rows,
    createdAt: input.createdAt ?? new Date().toISOString(),
    features,
    ...(prediction ? { prediction } : {}),
  };
}

// --- Reading baseline.json ------------------------------------------------------------------

const finite = z.number().finite();
const count = z.number().int().nonnegative();
const valueCountsSchema = z.object({ values: z.array(finite), counts: z.array(z.number()) }).strict();

const columnSchema = z
  .object({
    name: z.string().min(1),
    kind: z.enum(['numeric', 'categorical', 'binary']),
    count: z.number().int().positive(),
    nulls: count,
    mean: finite,
    std: finite.nonnegative(),
    min: finite,
    max: finite,
    quantiles: z.array(z.object({ q: finite.min(0).max(1), value: finite }).strict()),
    histogram: z.object({ edges: z.array(finite).min(2), counts: z.array(count) }).strict(),
    unique: z.number().int().positive(),
    distinct: valueCountsSchema,
    distinctExact: z.boolean(),
    approximation: z.object({ wasserstein: finite.nonnegative(), ks: finite.min(0).max(1) }).strict().nullable(),
    categories: z.array(z.object({ value: finite, count: z.number().int().positive(), share: finite }).strict()).nullable(),
  })
  .strict();

const baselineSchema = z
  .object({
    schema: z.literal(BASELINE_SCHEMA),
    model: z.string().min(1),
    rows: count,
    createdAt: z.string().min(1),
    features: z.array(columnSchema).min(1),
    prediction: columnSchema.optional(),
  })
  .strict();

/**
 * Reads a parsed `baseline.json`: the schema tag, every field's type, and the invariants the
 * statistics rely on (value counts ascending with positive counts that add up to the column's
 * count, histogram shape, the same rows in every column). Throws {@link DriftInputError} naming
 * the first problem.
 */
export function parseBaseline(json: unknown): Baseline {
  const where = 'baseline.json';
  if (typeof json === 'object' && json !== null && 'schema' in json && (json as { schema: unknown }).schema !== BASELINE_SCHEMA) {
    throw new DriftInputError(
      `${where} must have schema '${BASELINE_SCHEMA}', but ${describe((json as { schema: unknown }).schema)} was provided`,
    );
  }
  const parsed = baselineSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new DriftInputError(`${where}${path}: ${issue.message}`);
  }
  const baseline = parsed.data as Baseline;
  const names = new Set<string>();
  const columns: [string, ColumnProfile][] = baseline.features.map((f, i) => [`features[${i}]`, f]);
  if (baseline.prediction) columns.push(['prediction', baseline.prediction]);
  for (const [path, column] of columns) {
    const at = `${where} ${path} ('${column.name}')`;
    if (path !== 'prediction') {
      if (names.has(column.name)) throw new DriftInputError(`${at}: feature names must be unique, but '${column.name}' appears twice`);
      names.add(column.name);
      if (column.count + column.nulls !== baseline.rows) {
        throw new DriftInputError(`${at}: count + nulls must equal rows (${baseline.rows}), but ${column.count} + ${column.nulls} was provided`);
      }
    }
    checkValueCounts(column.distinct, `${at}.distinct`);
    if (total(column.distinct) !== column.count) {
      throw new DriftInputError(`${at}: distinct.counts must add up to count (${column.count}), but they add up to ${total(column.distinct)}`);
    }
    if (column.distinctExact !== (column.distinct.values.length === column.unique)) {
      throw new DriftInputError(`${at}: distinctExact must say whether distinct holds all ${column.unique} values`);
    }
    if (column.histogram.edges.length !== column.histogram.counts.length + 1) {
      throw new DriftInputError(
        `${at}: histogram must have one more edge than counts, but ${column.histogram.edges.length} edges and ${column.histogram.counts.length} counts were provided`,
      );
    }
    if (column.min > column.max) throw new DriftInputError(`${at}: min must be ≤ max, but ${column.min} > ${column.max}`);
  }
  return baseline;
}

/**
 * Per-feature drift verdicts and the dataset report, choosing each column's test the way
 * Evidently's default does (`_get_default_stattest` in its legacy `stattests/registry.py`):
 *
 * | reference values | column | distinct values in reference ∪ window | test, drift when |
 * |---|---|---|---|
 * | ≤ 1,000 | numeric | > 5 | two-sample KS, p ≤ 0.05 |
 * | ≤ 1,000 | numeric | 3–5 | chi-squared, p < 0.05 |
 * | ≤ 1,000 | any | ≤ 2 | Z-test of proportions, p < 0.05 |
 * | ≤ 1,000 | categorical | > 2 | chi-squared, p < 0.05 |
 * | > 1,000 | numeric | > 5 | Wasserstein / reference std, ≥ 0.1 |
 * | > 1,000 | numeric ≤ 5, categorical | any | Jensen–Shannon distance, ≥ 0.1 |
 *
 * Dataset drift: drifted features / tested features ≥ 0.5. Every number is an option.
 */
import { DriftInputError, checkValueCounts } from './profile';
import { binCounts, chiSquareDrift, jensenShannonDrift, ks2samp, total, unionSize, wassersteinDistance, zTestDrift } from './stats';
import { PREDICTION_FEATURE } from '../shared/operations';
import {
  REPORT_SCHEMA,
  type ColumnProfile,
  type DriftHistogram,
  type DriftOptions,
  type DriftReport,
  type DriftReportInput,
  type DriftTest,
  type FeatureDrift,
  type ValueCounts,
} from './types';

/** Evidently's defaults. */
export const DEFAULT_DRIFT_OPTIONS: DriftOptions = Object.freeze({
  smallReferenceRows: 1000,
  categoricalMaxUnique: 5,
  ksPValue: 0.05,
  chiSquarePValue: 0.05,
  zPValue: 0.05,
  wassersteinDistance: 0.1,
  jensenShannonDistance: 0.1,
  driftShare: 0.5,
});

/** Evidently's display names. */
export const TEST_NAMES: Readonly<Record<DriftTest, string>> = {
  ks: 'K-S p-value',
  chisquare: 'chi-square p-value',
  z: 'Z-test p-value',
  wasserstein: 'Wasserstein distance (normed)',
  jensenshannon: 'Jensen-Shannon distance',
};

/** Defaults filled in and every value checked; throws {@link DriftInputError}. */
export function resolveDriftOptions(options: Partial<DriftOptions> = {}): DriftOptions {
  const resolved = { ...DEFAULT_DRIFT_OPTIONS };
  for (const [key, value] of Object.entries(options) as [keyof DriftOptions, unknown][]) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_DRIFT_OPTIONS)) {
      throw new DriftInputError(`drift option '${key}' is not one of ${Object.keys(DEFAULT_DRIFT_OPTIONS).join(', ')}`);
    }
    const integer = key === 'smallReferenceRows' || key === 'categoricalMaxUnique';
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (integer ? Number.isSafeInteger(value) && value >= (key === 'categoricalMaxUnique' ? 2 : 0) : value >= 0) &&
      (key.endsWith('PValue') || key === 'driftShare' ? value <= 1 : true);
    if (!ok) {
      const shape = integer ? 'a non-negative integer' : key.endsWith('PValue') || key === 'driftShare' ? 'a number in [0, 1]' : 'a non-negative number';
      throw new DriftInputError(`drift option ${key} must be ${shape}, but ${typeof value === 'number' ? String(value) : JSON.stringify(value)} was provided`);
    }
    (resolved as Record<string, number>)[key] = value as number;
  }
  return resolved;
}

/**
 * The test Evidently's default would run. `union` is the number of distinct values in reference
 * and window together (any number above `categoricalMaxUnique` means the same, which is why a
 * merged reference, which always has more, needs no exact union).
 */
export function selectTest(reference: ColumnProfile, union: number, options: DriftOptions): DriftTest {
  const numeric = reference.kind === 'numeric';
  const few = union <= options.categoricalMaxUnique;
  if (reference.count <= options.smallReferenceRows) {
    if (numeric && !few) return 'ks';
    return union > 2 ? 'chisquare' : 'z';
  }
  return numeric && !few ? 'wasserstein' : 'jensenshannon';
}

function thresholdOf(test: DriftTest, options: DriftOptions): number {
  switch (test) {
    case 'ks':
      return options.ksPValue;
    case 'chisquare':
      return options.chiSquarePValue;
    case 'z':
      return options.zPValue;
    case 'wasserstein':
      return options.wassersteinDistance;
    case 'jensenshannon':
      return options.jensenShannonDistance;
  }
}

/** Above this many values in reference ∪ window a categorical chart falls back to the reference's bins. */
const MAX_CATEGORY_BARS = 30;

/** Reference and window on one axis: the reference histogram's bins, or every value for few values. */
function histogramOf(reference: ColumnProfile, current: ValueCounts): DriftHistogram {
  // A categorical column flooded with new values in the window is drawn as bins, not 1,000 bars.
  if (reference.kind !== 'numeric' && reference.distinctExact && unionSize(reference.distinct, current) <= MAX_CATEGORY_BARS) {
    const values: number[] = [];
    const ref: number[] = [];
    const cur: number[] = [];
    let i = 0;
    let j = 0;
    const a = reference.distinct;
    while (i < a.values.length || j < current.values.length) {
      const va = a.values[i] ?? Infinity;
      const vb = current.values[j] ?? Infinity;
      const v = Math.min(va, vb);
      values.push(v);
      ref.push(va === v ? a.counts[i++]! : 0);
      cur.push(vb === v ? current.counts[j++]! : 0);
    }
    return { type: 'categories', values, reference: ref, current: cur };
  }
  const binned = binCounts(current, reference.histogram.edges);
  return {
    type: 'bins',
    edges: [...reference.histogram.edges],
    reference: [...reference.histogram.counts],
    current: binned.counts,
    currentBelow: binned.below,
    currentAbove: binned.above,
  };
}

/**
 * One column's verdict: the reference profile against the window's value counts. A window without
 * a value of the column is reported as `no-values` (not tested, not drifted), never as NaN.
 */
export function compareColumn(reference: ColumnProfile, current: ValueCounts, options: Partial<DriftOptions> = {}): FeatureDrift {
  const opts = resolveDriftOptions(options);
  const cur = checkValueCounts(current, `current value counts of '${reference.name}'`);
  const currentCount = total(cur);
  const base = {
    name: reference.name,
    kind: reference.kind,
    referenceCount: reference.count,
    currentCount,
    histogram: histogramOf(reference, cur),
  };
  if (currentCount === 0) {
    const test = selectTest(reference, reference.unique, opts);
    return {
      ...base,
      status: 'no-values',
      test: null,
      testName: 'not tested',
      statistic: null,
      pValue: null,
      score: null,
      threshold: thresholdOf(test, opts),
      scoreType: test === 'wasserstein' || test === 'jensenshannon' ? 'distance' : 'p-value',
      drifted: false,
      exact: true,
      note: 'no values in the window',
    };
  }
  const ref = reference.distinct;
  // A merged reference has more distinct values than any categorical limit, so its union is "many".
  const union = reference.distinctExact ? unionSize(ref, cur) : reference.unique;
  const test = selectTest(reference, union, opts);
  const threshold = thresholdOf(test, opts);
  let statistic: number;
  let pValue: number | null = null;
  let method: string | undefined;
  switch (test) {
    case 'ks': {
      const r = ks2samp(ref, cur);
      statistic = r.statistic;
      pValue = r.pValue;
      method = r.method;
      break;
    }
    case 'chisquare': {
      const r = chiSquareDrift(ref, cur);
      statistic = r.statistic;
      pValue = r.pValue;
      break;
    }
    case 'z': {
      const r = zTestDrift(ref, cur);
      statistic = r.statistic;
      pValue = r.pValue;
      break;
    }
    case 'wasserstein':
      // Evidently floors the normaliser at 0.001 so a constant reference does not divide by zero.
      statistic = wassersteinDistance(ref, cur) / Math.max(reference.std, 0.001);
      break;
    case 'jensenshannon':
      statistic = jensenShannonDrift(ref, cur, reference.kind === 'numeric');
      break;
  }
  const isPValue = pValue !== null;
  const score = isPValue ? pValue! : statistic;
  // Evidently's KS test drifts at p ≤ threshold; chi-square and Z at p < threshold.
  const drifted = isPValue ? (test === 'ks' ? score <= threshold : score < threshold) : score >= threshold;
  const notes: string[] = [];
  if (method === 'asymp') notes.push('KS p-value by the asymptotic distribution (a sample above 10,000 values), as scipy does');
  if (!Number.isFinite(statistic)) notes.push('infinite chi²: the window has a value the reference never had');
  if (!reference.distinctExact && reference.approximation) {
    const a = reference.approximation;
    const bound = test === 'wasserstein' ? a.wasserstein / Math.max(reference.std, 0.001) : test === 'ks' ? a.ks : null;
    notes.push(
      `approximate: the reference's ${reference.unique} distinct values were merged to ${ref.values.length}` +
        (bound !== null ? `; the statistic is within ${bound.toPrecision(2)} of the exact one` : ''),
    );
  }
  return {
    ...base,
    status: 'tested',
    test,
    testName: TEST_NAMES[test],
    statistic: Number.isFinite(statistic) ? statistic : null,
    pValue,
    score,
    threshold,
    scoreType: isPValue ? 'p-value' : 'distance',
    drifted,
    exact: reference.distinctExact,
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

/**
 * The drift report of one window against a baseline. Every baseline feature must have value
 * counts in `current` (empty when the window has no value of it) and no other name may appear, so
 * a mistyped column in the caller's SQL is an error rather than a silently untested feature.
 */
export function driftReport(input: DriftReportInput): DriftReport {
  const options = resolveDriftOptions(input.options);
  const { baseline } = input;
  const names = baseline.features.map((f) => f.name);
  for (const name of names) {
    if (!(name in input.current)) {
      throw new DriftInputError(`current must have value counts for every baseline feature, but '${name}' is missing`);
    }
  }
  for (const name of Object.keys(input.current)) {
    if (!names.includes(name)) {
      throw new DriftInputError(`current names '${name}', which is not a feature of the baseline (${names.join(', ')})`);
    }
  }
  for (const [key, value] of Object.entries(input.window ?? {})) {
    if (typeof value !== 'string' || value === '') {
      throw new DriftInputError(`window.${key} must be a non-empty string, but ${JSON.stringify(value)} was provided`);
    }
  }
  const features = baseline.features.map((f) => compareColumn(f, input.current[f.name]!, options));
  const prediction =
    baseline.prediction && input.prediction ? compareColumn({ ...baseline.prediction, name: PREDICTION_FEATURE }, input.prediction, options) : null;
  const largest = Math.max(0, ...features.map((f) => f.currentCount), prediction?.currentCount ?? 0);
  const rows = input.rows ?? largest;
  if (!Number.isSafeInteger(rows) || rows < 0) {
    throw new DriftInputError(`rows must be a non-negative integer, but ${JSON.stringify(rows)} was provided`);
  }
  if (rows < largest) {
    throw new DriftInputError(`rows must be at least the largest column's value count (${largest}), but ${rows} was provided`);
  }
  const tested = features.filter((f) => f.status === 'tested');
  const drifted = tested.filter((f) => f.drifted).map((f) => f.name);
  const driftShare = tested.length > 0 ? drifted.length / tested.length : null;
  const datasetDrift = driftShare !== null && driftShare >= options.driftShare;
  const predictionDrift = prediction && prediction.status === 'tested' ? prediction.drifted : null;
  const status = rows === 0 ? 'no-traffic' : 'ok';
  const window = { start: input.window.start, end: input.window.end };
  let summary: string;
  if (status === 'no-traffic') {
    summary = `No traffic in window ${window.start} – ${window.end}: nothing to compare, no drift reported.`;
  } else if (driftShare === null) {
    summary = `${rows} rows in window but no feature had a value: nothing tested.`;
  } else {
    summary =
      `${datasetDrift ? 'Dataset drift detected' : 'No dataset drift'}: ${drifted.length} of ${tested.length} features drifted ` +
      `(share ${formatShare(driftShare)}, threshold ${formatShare(options.driftShare)})` +
      (predictionDrift === null ? '.' : `; prediction ${predictionDrift ? 'drifted' : 'did not drift'}.`);
  }
  return {
    schema: REPORT_SCHEMA,
    model: input.model,
    modelVersion: input.modelVersion,
    window,
    generatedAt: input.generatedAt ?? new Date().toISOString(),
    status,
    summary,
    referenceRows: baseline.rows,
    dataset: {
      rows,
      features: features.length,
      testedFeatures: tested.length,
      driftedFeatures: drifted,
      driftShare,
      driftShareThreshold: options.driftShare,
      datasetDrift,
      predictionDrift,
    },
    features,
    prediction,
    options,
  };
}

const formatShare = (x: number) => (Math.round(x * 1000) / 1000).toString();

/**
 * The drift core's rules: Evidently's test selection, thresholds, the baseline profile and its
 * validation, the report (empty windows included) and its HTML and table renderings.
 */
import { describe, expect, it } from 'vitest';
import {
  BASELINE_SCHEMA,
  DriftInputError,
  buildBaseline,
  checkValueCounts,
  driftDetectedDetail,
  driftMetricData,
  compareColumn,
  driftReport,
  formatDriftTable,
  ks2samp,
  parseBaseline,
  profileColumn,
  renderDriftHtml,
  resolveDriftOptions,
  valueCounts,
  wassersteinDistance,
  type Baseline,
  type DriftReport,
  type ValueCounts,
} from '../../lib/drift';
import { DRIFT_METRICS, PREDICTION_FEATURE } from '../../lib/shared/operations';
import { mulberry32 } from '../../lib/trainer/synthetic';

function normal(n: number, mean: number, sd: number, seed: number, decimals = 2): number[] {
  const r = mulberry32(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    out.push(Number((mean + sd * z).toFixed(decimals)));
  }
  return out;
}
function choice(n: number, values: number[], seed: number, weights?: number[]): number[] {
  const r = mulberry32(seed);
  const w = weights ?? values.map(() => 1 / values.length);
  return Array.from({ length: n }, () => {
    let u = r();
    for (let i = 0; i < values.length; i++) {
      u -= w[i]!;
      if (u < 0) return values[i]!;
    }
    return values.at(-1)!;
  });
}
const vc = (xs: number[]) => valueCounts(xs);

/** Every number reachable in a value, to prove a report holds no NaN anywhere. */
function numbersIn(x: unknown): number[] {
  if (typeof x === 'number') return [x];
  if (Array.isArray(x)) return x.flatMap(numbersIn);
  if (x && typeof x === 'object') return Object.values(x).flatMap(numbersIn);
  return [];
}

describe('test selection follows Evidently’s default rule', () => {
  const cases = [
    { what: 'numeric, small reference, > 5 values → KS', ref: normal(500, 0, 1, 1), cur: normal(300, 0, 1, 2), test: 'ks', kind: 'numeric' },
    { what: 'integer column with 3 values, small reference → chi-squared', ref: choice(500, [1, 2, 3], 3), cur: choice(300, [1, 2, 3], 4), test: 'chisquare', kind: 'categorical' },
    { what: 'binary, small reference → Z-test', ref: choice(500, [0, 1], 5), cur: choice(300, [0, 1], 6), test: 'z', kind: 'binary' },
    { what: 'float column with 4 values, small reference → chi-squared (few values)', ref: choice(400, [0.5, 1.5, 2.5, 3.5], 7), cur: choice(300, [0.5, 1.5, 2.5, 3.5], 8), test: 'chisquare', kind: 'numeric' },
    { what: 'numeric, reference > 1,000 → Wasserstein', ref: normal(1500, 0, 1, 9), cur: normal(300, 0, 1, 10), test: 'wasserstein', kind: 'numeric' },
    { what: 'categorical, reference > 1,000 → Jensen–Shannon', ref: choice(1500, [1, 2, 3], 11), cur: choice(300, [1, 2, 3], 12), test: 'jensenshannon', kind: 'categorical' },
    { what: 'numeric with few values, reference > 1,000 → Jensen–Shannon', ref: choice(1500, [0.1, 0.2, 0.3], 13), cur: choice(300, [0.1, 0.2, 0.3], 14), test: 'jensenshannon', kind: 'numeric' },
    { what: 'binary reference, window brings a third value → chi-squared (union of values)', ref: choice(500, [0, 1], 15), cur: choice(300, [0, 1, 2], 16), test: 'chisquare', kind: 'binary' },
  ] as const;

  it.each(cases)('$what', ({ ref, cur, test, kind }) => {
    const profile = profileColumn('x', vc([...ref]));
    expect(profile.kind).toBe(kind);
    expect(compareColumn(profile, vc([...cur])).test).toBe(test);
  });

  it('the reference size that switches to distances is the non-null count, at exactly 1,000', () => {
    const thousand = profileColumn('x', vc(normal(1000, 0, 1, 17)), 500);
    const more = profileColumn('x', vc(normal(1001, 0, 1, 18)));
    expect(compareColumn(thousand, vc(normal(50, 0, 1, 19))).test).toBe('ks');
    expect(compareColumn(more, vc(normal(50, 0, 1, 19))).test).toBe('wasserstein');
    expect(compareColumn(more, vc(normal(50, 0, 1, 19)), { smallReferenceRows: 5000 }).test).toBe('ks');
  });
});

describe('verdicts and thresholds', () => {
  const ref = profileColumn('x', vc(normal(800, 10, 2, 21)));

  it('flags a shifted numeric feature and not an unshifted one', () => {
    const same = compareColumn(ref, vc(normal(600, 10, 2, 22)));
    const shifted = compareColumn(ref, vc(normal(600, 11, 2, 23)));
    expect(same).toMatchObject({ test: 'ks', status: 'tested', drifted: false, scoreType: 'p-value' });
    expect(shifted).toMatchObject({ test: 'ks', drifted: true });
    expect(shifted.pValue!).toBeLessThan(1e-6);
    expect(shifted.score).toBe(shifted.pValue);
  });

  it('every threshold is an option', () => {
    const cur = vc(normal(600, 10.25, 2, 24));
    const base = compareColumn(ref, cur);
    expect(base.threshold).toBe(0.05);
    const strict = compareColumn(ref, cur, { ksPValue: base.pValue! / 2 });
    const lax = compareColumn(ref, cur, { ksPValue: Math.min(1, base.pValue! * 2) });
    expect(strict.drifted).toBe(false);
    expect(lax.drifted).toBe(true);
    // KS drifts at p ≤ threshold (Evidently's ks_stat_test), so the p-value itself as threshold drifts.
    expect(compareColumn(ref, cur, { ksPValue: base.pValue! }).drifted).toBe(true);
    const big = profileColumn('x', vc(normal(2000, 10, 2, 25)));
    const w = compareColumn(big, cur);
    expect(w.test).toBe('wasserstein');
    expect(compareColumn(big, cur, { wassersteinDistance: w.statistic! }).drifted).toBe(true); // ≥
    expect(compareColumn(big, cur, { wassersteinDistance: w.statistic! * 1.0001 }).drifted).toBe(false);
  });

  it('Wasserstein is normalised by the reference’s population std', () => {
    const refSample = normal(3000, 5, 3, 26);
    const curSample = normal(500, 6, 3, 27);
    const profile = profileColumn('x', vc(refSample));
    const mean = refSample.reduce((s, x) => s + x, 0) / refSample.length;
    const std = Math.sqrt(refSample.reduce((s, x) => s + (x - mean) ** 2, 0) / refSample.length);
    expect(profile.std).toBeCloseTo(std, 12);
    expect(compareColumn(profile, vc(curSample)).statistic).toBeCloseTo(wassersteinDistance(vc(refSample), vc(curSample)) / std, 12);
  });

  it('constant columns: same constant is no drift, another constant is drift, no NaN', () => {
    const constant = profileColumn('c', vc(Array(2000).fill(7)));
    expect(constant).toMatchObject({ std: 0, min: 7, max: 7, kind: 'binary', unique: 1 }); // integer-valued, ≤ 2 values
    expect(constant.histogram.edges).toEqual([6.5, 7.5]);
    const same = compareColumn(constant, vc(Array(40).fill(7)));
    const other = compareColumn(constant, vc(Array(40).fill(8)));
    expect(same).toMatchObject({ test: 'jensenshannon', statistic: 0, drifted: false });
    expect(other.drifted).toBe(true);
    const smallConstant = profileColumn('c', vc(Array(20).fill(3)));
    expect(compareColumn(smallConstant, vc(Array(5).fill(3)))).toMatchObject({ test: 'z', pValue: 1, drifted: false });
    // A constant numeric reference against a spread window: Wasserstein over the 0.001 floor.
    const constantFloat = profileColumn('c', vc(Array(2000).fill(0.5)));
    const spread = compareColumn(constantFloat, vc(normal(300, 0.5, 1, 28)));
    expect(spread.test).toBe('wasserstein');
    expect(spread.statistic).toBeCloseTo(wassersteinDistance(vc(Array(2000).fill(0.5)), vc(normal(300, 0.5, 1, 28))) / 0.001, 6);
    for (const f of [same, other, spread]) expect(numbersIn(f).every(Number.isFinite)).toBe(true);
  });

  it('a single-value window is tested, not a crash', () => {
    const f = compareColumn(ref, { values: [10], counts: [1] });
    expect(f).toMatchObject({ status: 'tested', test: 'ks', currentCount: 1 });
    expect(f.pValue!).toBeGreaterThan(0);
  });

  it('a value the reference never had makes chi² infinite: statistic null, p-value 0, drift', () => {
    const cat = profileColumn('c', vc(choice(500, [1, 2, 3], 29)));
    const f = compareColumn(cat, vc(choice(300, [1, 2, 3, 4], 30)));
    expect(f).toMatchObject({ test: 'chisquare', statistic: null, pValue: 0, drifted: true });
    expect(f.note).toMatch(/never had/);
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
  });
});

describe('baseline profile', () => {
  it('records count, nulls, moments, quantiles, histogram, kind, distinct values and categories', () => {
    const p = profileColumn('q', vc([3, 1, 2, 2, 10]), 2);
    expect(p).toMatchObject({ count: 5, nulls: 2, mean: 3.6, min: 1, max: 10, unique: 4, kind: 'categorical', distinctExact: true, approximation: null });
    expect(p.quantiles.find((q) => q.q === 0.5)!.value).toBe(2);
    expect(p.quantiles.find((q) => q.q === 0.75)!.value).toBe(3);
    expect(p.distinct).toEqual({ values: [1, 2, 3, 10], counts: [1, 2, 1, 1] });
    expect(p.categories).toEqual([
      { value: 1, count: 1, share: 0.2 },
      { value: 2, count: 2, share: 0.4 },
      { value: 3, count: 1, share: 0.2 },
      { value: 10, count: 1, share: 0.2 },
    ]);
    expect(p.histogram.counts.reduce((s, c) => s + c, 0)).toBe(5);
    expect(p.histogram.edges[0]).toBe(1);
    expect(p.histogram.edges.at(-1)).toBe(10);
    expect(profileColumn('h', vc(normal(300, 0, 1, 31))).categories).toBeNull();
  });

  it('past the distinct-value cap, values are merged and the error bound is stated and holds', () => {
    const sample = normal(20_000, 50, 10, 32, 4);
    const exact = profileColumn('x', vc(sample), 0, 1_000_000);
    const capped = profileColumn('x', vc(sample), 0, 500);
    expect(exact.distinctExact).toBe(true);
    expect(capped).toMatchObject({ distinctExact: false, unique: exact.unique, count: exact.count, mean: exact.mean, std: exact.std });
    expect(capped.distinct.values.length).toBeLessThanOrEqual(500);
    expect(capped.distinct.counts.reduce((s, c) => s + c, 0)).toBe(20_000);
    const a = capped.approximation!;
    expect(a.wasserstein).toBeGreaterThan(0);
    for (const [seed, shift] of [[33, 0], [34, 1], [35, 5]] as const) {
      const window = vc(normal(4000, 50 + shift, 10, seed, 4));
      const e = compareColumn(exact, window);
      const c = compareColumn(capped, window);
      expect(c.exact).toBe(false);
      expect(c.note).toMatch(/approximate: the reference's \d+ distinct values were merged to \d+/);
      expect(Math.abs(c.statistic! - e.statistic!)).toBeLessThanOrEqual(a.wasserstein / exact.std + 1e-12);
      expect(c.drifted).toBe(e.drifted);
      // The KS statistic moves by at most the stored D(exact, merged).
      expect(Math.abs(ks2samp(capped.distinct, window).statistic - ks2samp(exact.distinct, window).statistic)).toBeLessThanOrEqual(a.ks + 1e-12);
    }
  });

  it('buildBaseline: versioned schema, same rows in every column, prediction profile', () => {
    const b = buildBaseline({
      model: 'wine-quality',
      columns: { a: vc([1, 2, 3, 4]), b: vc([5, 5, 6]) },
      nulls: { b: 1 },
      prediction: vc([5.1, 5.2, 6, 6]),
      createdAt: '2026-12-04T00:00:00.000Z',
    });
    expect(b).toMatchObject({ schema: BASELINE_SCHEMA, model: 'wine-quality', rows: 4, createdAt: '2026-12-04T00:00:00.000Z' });
    expect(b.features.map((f) => f.name)).toEqual(['a', 'b']);
    expect(b.prediction).toMatchObject({ name: PREDICTION_FEATURE, count: 4, nulls: 0 });
    // The prediction reference may come from a holdout split of another size.
    expect(buildBaseline({ model: 'm', columns: { a: vc([1, 2, 3]) }, prediction: vc([1, 2, 3, 4, 5]) }).prediction!.count).toBe(5);
    expect(parseBaseline(JSON.parse(JSON.stringify(b)))).toEqual(b);
    expect(() => buildBaseline({ model: 'm', columns: { a: vc([1, 2, 3]), b: vc([1, 2]) } })).toThrow(
      /every column must describe the same rows: 'a' has 3 \(values \+ nulls\), but 'b' has 2/,
    );
    expect(() => buildBaseline({ model: 'm', columns: { a: vc([1]) }, nulls: { z: 1 } })).toThrow(/nulls names 'z'/);
    expect(() => buildBaseline({ model: '', columns: { a: vc([1]) } })).toThrow(/model must be a non-empty string/);
    expect(() => profileColumn('e', { values: [], counts: [] })).toThrow(/column 'e' must have at least one non-null value/);
  });
});

describe('malformed input gets a clear error', () => {
  it.each([
    [{ values: [1, 2], counts: [1] }, /values and .*counts must have the same length, but 2 and 1 were provided/],
    [{ values: [2, 1], counts: [1, 1] }, /must be distinct and ascending, but 2 is followed by 1 at index 1/],
    [{ values: [1, 1], counts: [1, 1] }, /must be distinct and ascending/],
    [{ values: [1, Number.NaN], counts: [1, 1] }, /values\[1\] must be a finite number, but NaN was provided/],
    [{ values: [1, Infinity], counts: [1, 1] }, /values\[1\] must be a finite number, but Infinity was provided/],
    [{ values: [1, 2], counts: [1, -3] }, /counts\[1\] must be a positive integer, but -3 was provided/],
    [{ values: [1, 2], counts: [1, 0] }, /counts\[1\] must be a positive integer, but 0 was provided/],
    [{ values: [1, 2], counts: [1, 1.5] }, /counts\[1\] must be a positive integer, but 1.5 was provided/],
    [{ values: ['1'], counts: [1] }, /values\[0\] must be a finite number, but "1" was provided/],
    [null, /must be an object \{ values, counts \}, but null was provided/],
  ])('value counts %j', (input, message) => {
    expect(() => checkValueCounts(input, 'c')).toThrow(DriftInputError);
    expect(() => checkValueCounts(input, 'c')).toThrow(message);
    const profile = profileColumn('x', vc([1, 2, 3]));
    expect(() => compareColumn(profile, input as ValueCounts)).toThrow(DriftInputError);
  });

  it('valueCounts drops NaN and ±Infinity as nulls, as Evidently does', () => {
    expect(valueCounts([2, Number.NaN, 1, 2, Infinity, -0, 0])).toEqual({ values: [0, 1, 2], counts: [2, 1, 2], nulls: 2 });
  });

  it.each([
    [{ ksPValue: 2 }, /drift option ksPValue must be a number in \[0, 1\], but 2 was provided/],
    [{ driftShare: -0.1 }, /drift option driftShare must be a number in \[0, 1\]/],
    [{ wassersteinDistance: Number.NaN }, /drift option wassersteinDistance must be a non-negative number, but NaN was provided/],
    [{ smallReferenceRows: 10.5 }, /smallReferenceRows must be a non-negative integer/],
    [{ nonsense: 1 }, /drift option 'nonsense' is not one of/],
  ])('options %j', (options, message) => {
    expect(() => resolveDriftOptions(options as never)).toThrow(message);
  });

  const good = () =>
    JSON.parse(JSON.stringify(buildBaseline({ model: 'm', columns: { a: vc([1, 2, 2, 3]), b: vc([0.5, 0.25, 9, 1]) }, createdAt: 't' })));

  it.each([
    ['wrong schema tag', (b: any) => (b.schema = 'mlops-kit/baseline@2'), /baseline.json must have schema 'mlops-kit\/baseline@1', but "mlops-kit\/baseline@2" was provided/],
    ['no schema', (b: any) => delete b.schema, /baseline.json.schema:/],
    ['a missing field', (b: any) => delete b.features[1].std, /baseline.json.features\[1\].std:/],
    ['an unknown kind', (b: any) => (b.features[0].kind = 'text'), /baseline.json.features\[0\].kind:/],
    ['a negative count', (b: any) => (b.features[0].distinct.counts[0] = -1), /features\[0\] \('a'\).distinct.counts\[0\] must be a positive integer, but -1 was provided/],
    ['unsorted values', (b: any) => (b.features[0].distinct.values = [3, 2, 1]), /must be distinct and ascending/],
    ['counts that do not add up', (b: any) => (b.features[0].distinct.counts[0] = 5), /distinct.counts must add up to count \(4\), but they add up to 8/],
    ['rows that disagree', (b: any) => (b.features[1].nulls = 3), /count \+ nulls must equal rows \(4\), but 4 \+ 3 was provided/],
    ['a histogram of the wrong shape', (b: any) => b.features[0].histogram.edges.pop(), /histogram must have one more edge than counts/],
    ['duplicate features', (b: any) => (b.features[1].name = 'a'), /feature names must be unique/],
    ['an extra field', (b: any) => (b.extra = 1), /baseline.json: Unrecognized key/],
  ])('baseline with %s', (_what, mutate, message) => {
    const b = good();
    mutate(b);
    expect(() => parseBaseline(b)).toThrow(DriftInputError);
    expect(() => parseBaseline(b)).toThrow(message);
  });

  it('not an object at all', () => {
    expect(() => parseBaseline('nope')).toThrow(/baseline.json: /);
    expect(() => parseBaseline(null)).toThrow(DriftInputError);
  });
});

describe('the drift report', () => {
  const rows = 600;
  const baseline: Baseline = buildBaseline({
    model: 'wine-quality',
    columns: {
      alcohol: vc(normal(rows, 10.4, 1.1, 41)),
      ph: vc(normal(rows, 3.3, 0.15, 42)),
      sugar: vc(normal(rows, 2.5, 1.4, 43)),
      red: vc(choice(rows, [0, 1], 44, [0.3, 0.7])),
    },
    prediction: vc(normal(rows, 5.6, 0.8, 45)),
    createdAt: 't',
  });
  const window = { start: '2026-12-01T00:00:00Z', end: '2026-12-02T00:00:00Z' };
  const current = (shift: number) => ({
    alcohol: vc(normal(400, 10.4 + shift, 1.1, 46)),
    ph: vc(normal(400, 3.3, 0.15, 47)),
    sugar: vc(normal(400, 2.5, 1.4, 48)),
    red: vc(choice(400, [0, 1], 49, [0.3, 0.7])),
  });
  const report = (shift: number, extra: Partial<Parameters<typeof driftReport>[0]> = {}): DriftReport =>
    driftReport({ baseline, current: current(shift), rows: 400, window, model: 'wine-quality', modelVersion: '3', generatedAt: 'g', ...extra });

  it('flags exactly the shifted feature; the dataset drifts only when the share reaches the threshold', () => {
    const r = report(2, { prediction: vc(normal(400, 6.6, 0.8, 50)) });
    expect(r.status).toBe('ok');
    expect(r.features.map((f) => [f.name, f.test, f.drifted])).toEqual([
      ['alcohol', 'ks', true],
      ['ph', 'ks', false],
      ['sugar', 'ks', false],
      ['red', 'z', false],
    ]);
    expect(r.dataset).toMatchObject({ rows: 400, features: 4, testedFeatures: 4, driftedFeatures: ['alcohol'], driftShare: 0.25, datasetDrift: false, predictionDrift: true });
    expect(r.prediction).toMatchObject({ name: PREDICTION_FEATURE, drifted: true });
    expect(report(2, { options: { driftShare: 0.25 } }).dataset.datasetDrift).toBe(true); // share ≥ threshold
    expect(report(0).dataset).toMatchObject({ driftedFeatures: [], datasetDrift: false, predictionDrift: null });
    expect(r).toMatchObject({ schema: 'mlops-kit/drift-report@1', model: 'wine-quality', modelVersion: '3', window, referenceRows: rows });
    expect(r.summary).toBe('No dataset drift: 1 of 4 features drifted (share 0.25, threshold 0.5); prediction drifted.');
  });

  it('metrics and the DriftDetected detail use the shared names', () => {
    const r = report(2, { prediction: vc(normal(400, 6.6, 0.8, 50)), options: { driftShare: 0.25 } });
    const data = driftMetricData(r);
    expect(data.every((d) => d.namespace === 'MlopsKit/Drift')).toBe(true);
    const find = (name: string, feature?: string) =>
      data.filter((d) => d.name === name && d.dimensions.Feature === feature).map((d) => d.value);
    expect(find(DRIFT_METRICS.windowRows)).toEqual([400]);
    expect(find(DRIFT_METRICS.datasetDrift)).toEqual([1]);
    expect(find(DRIFT_METRICS.driftShare)).toEqual([0.25]);
    expect(find(DRIFT_METRICS.predictionDrift)).toEqual([1]);
    expect(find(DRIFT_METRICS.featureDrifted, 'alcohol')).toEqual([1]);
    expect(find(DRIFT_METRICS.featureDrifted, 'ph')).toEqual([0]);
    expect(find(DRIFT_METRICS.featureScore, 'alcohol')).toEqual([r.features[0]!.statistic]);
    expect(find(DRIFT_METRICS.featureDrifted, PREDICTION_FEATURE)).toEqual([1]);
    const where = { environment: 'local', reportUri: 's3://b/r.json', htmlReportUri: 's3://b/r.html' };
    expect(driftDetectedDetail(r, where)).toEqual({
      environment: 'local',
      model: 'wine-quality',
      modelVersion: '3',
      windowStart: window.start,
      windowEnd: window.end,
      driftShare: 0.25,
      driftedFeatures: ['alcohol'],
      reportUri: 's3://b/r.json',
      htmlReportUri: 's3://b/r.html',
    });
    expect(driftDetectedDetail(report(0), where)).toBeNull();
  });

  it('an empty window is a "no traffic" report: nothing tested, nothing drifted, no NaN', () => {
    const empty = { values: [], counts: [] };
    const r = driftReport({
      baseline,
      current: { alcohol: empty, ph: empty, sugar: empty, red: empty },
      prediction: empty,
      rows: 0,
      window,
      model: 'wine-quality',
      modelVersion: '3',
    });
    expect(r.status).toBe('no-traffic');
    expect(r.summary).toMatch(/^No traffic in window 2026-12-01T00:00:00Z – 2026-12-02T00:00:00Z/);
    expect(r.dataset).toMatchObject({ rows: 0, testedFeatures: 0, driftedFeatures: [], driftShare: null, datasetDrift: false, predictionDrift: null });
    expect(r.features.every((f) => f.status === 'no-values' && f.statistic === null && !f.drifted)).toBe(true);
    expect(numbersIn(r).every(Number.isFinite)).toBe(true);
    expect(JSON.stringify(r)).not.toMatch(/NaN|null,"pValue":NaN/);
    expect(formatDriftTable(r)).toMatch(/No traffic in window/);
    expect(driftMetricData(r).map((d) => [d.name, d.value])).toEqual([
      [DRIFT_METRICS.windowRows, 0],
      [DRIFT_METRICS.datasetDrift, 0],
    ]);
    const html = renderDriftHtml(r);
    expect(html).toMatch(/No traffic in window/);
    expect(html).not.toMatch(/NaN/);
  });

  it('a column without values in a window with traffic is reported untested and left out of the share', () => {
    const c = { ...current(3), sugar: { values: [], counts: [] } };
    const r = driftReport({ baseline, current: c, rows: 400, window, model: 'm', modelVersion: '1' });
    expect(r.features.find((f) => f.name === 'sugar')).toMatchObject({ status: 'no-values', test: null, drifted: false });
    expect(r.dataset).toMatchObject({ testedFeatures: 3, driftShare: 1 / 3 });
  });

  it('rejects a window that does not match the baseline', () => {
    const { sugar: _sugar, ...missing } = current(0);
    expect(() => driftReport({ baseline, current: missing, window, model: 'm', modelVersion: '1' })).toThrow(
      "current must have value counts for every baseline feature, but 'sugar' is missing",
    );
    expect(() => driftReport({ baseline, current: { ...current(0), colour: vc([1]) }, window, model: 'm', modelVersion: '1' })).toThrow(
      /current names 'colour', which is not a feature of the baseline \(alcohol, ph, sugar, red\)/,
    );
    expect(() => driftReport({ baseline, current: current(0), rows: 10, window, model: 'm', modelVersion: '1' })).toThrow(
      /rows must be at least the largest column's value count \(400\), but 10 was provided/,
    );
    expect(() => driftReport({ baseline, current: current(0), window: { start: '', end: 'x' }, model: 'm', modelVersion: '1' })).toThrow(
      /window.start must be a non-empty string/,
    );
  });

  it('renders a self-contained HTML page: inline SVG per feature, no scripts, no external resources, text escaped', () => {
    const hostile = buildBaseline({ model: 'm', columns: { '<script>alert(1)</script>': vc(normal(300, 0, 1, 51)), 'a&b"c': vc(choice(300, [1, 2, 3], 52)) } });
    const r = driftReport({
      baseline: hostile,
      current: { '<script>alert(1)</script>': vc(normal(200, 1, 1, 53)), 'a&b"c': vc(choice(200, [1, 2, 3], 54)) },
      window: { start: '<b>', end: 'x' },
      model: '<img src=x onerror=alert(1)>',
      modelVersion: '"1"',
    });
    const html = renderDriftHtml(r);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<img|<b>|onerror=alert\(1\)>/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('a&amp;b&quot;c');
    expect(html).not.toMatch(/<[^>]*\s(src|href)=/);
    expect(html.match(/https?:\/\/[^"]*/g)).toEqual(['http://www.w3.org/2000/svg', 'http://www.w3.org/2000/svg']); // the SVG namespace only
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).toMatch(/<rect [^>]*fill="#f58518"><title>/);
    expect(html).toContain('DRIFT');
  });

  it('the table shows each feature’s test, statistic, p-value, rule and verdict', () => {
    const table = formatDriftTable(report(2, { prediction: vc(normal(400, 5.6, 0.8, 55)) }));
    const lines = table.split('\n');
    expect(lines[0]).toBe('wine-quality version 3, window 2026-12-01T00:00:00Z – 2026-12-02T00:00:00Z: 400 rows');
    expect(lines[2]).toMatch(/^feature\s+kind\s+test\s+statistic\s+p-value\s+drift when\s+verdict$/);
    expect(lines.find((l) => l.startsWith('alcohol'))).toMatch(/^alcohol\s+numeric\s+ks\s+0\.\d+\s+\S+\s+p ≤ 0.05\s+DRIFT$/);
    expect(lines.find((l) => l.startsWith('red'))).toMatch(/^red\s+binary\s+z\s+-?\d\S*\s+\S+\s+p < 0.05\s+ok$/);
    expect(lines.find((l) => l.startsWith('prediction'))).toMatch(/ok$/);
    expect(table.trimEnd().split('\n').at(-1)).toMatch(/^No dataset drift: 1 of 4 features drifted/);
  });
});

describe('charts', () => {
  it('categorical columns are drawn per value, numeric ones on the reference bins with what falls outside', () => {
    const cat = compareColumn(profileColumn('c', vc([1, 1, 2, 3])), vc([2, 3, 3, 4]));
    expect(cat.histogram).toEqual({ type: 'categories', values: [1, 2, 3, 4], reference: [2, 1, 1, 0], current: [0, 1, 2, 1] });
    const num = compareColumn(profileColumn('n', vc([0, 1, 2, 3, 4, 5, 6, 7, 8.5, 10])), vc([-1, 0, 10, 11, 12]));
    expect(num.histogram).toMatchObject({ type: 'bins', currentBelow: 1, currentAbove: 2 });
    if (num.histogram.type !== 'bins') throw new Error('bins expected');
    expect(num.histogram.edges[0]).toBe(0);
    expect(num.histogram.edges.at(-1)).toBe(10);
    expect(num.histogram.current.reduce((s, c) => s + c, 0)).toBe(2); // 0 in the first bin, 10 in the last (closed)
    expect(num.histogram.current[0]).toBe(1);
    expect(num.histogram.current.at(-1)).toBe(1);
    const flooded = compareColumn(profileColumn('c', vc([1, 2, 3])), vc(Array.from({ length: 100 }, (_, i) => i)));
    expect(flooded.histogram.type).toBe('bins');
  });
});

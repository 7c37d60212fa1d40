/**
 * The drift core against scipy on the same samples (fixtures written once by
 * test/fixtures/drift/generate.py): every statistic is computed from value counts here, from the
 * raw samples there, and must agree to 1e-9 (relative above 1).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  chiSquareDrift,
  jensenShannonDrift,
  ks2samp,
  wassersteinDistance,
  zTestDrift,
  sturgesEdges,
} from '../../lib/drift/stats';
import { kstwoSf } from '../../lib/drift/special';
import { moments, profileColumn, quantileOf, valueCounts } from '../../lib/drift/profile';
import { compareColumn } from '../../lib/drift/compare';

interface Pair {
  chisquare?: { statistic: number | 'Infinity'; pValue: number };
  z?: { statistic: number; pValue: number };
  name: string;
  reference: number[];
  current: number[];
  ks: { statistic: number; pValue: number; method: 'exact' | 'asymp' };
  wasserstein: number;
  wassersteinNorm: number;
  jsNumeric: number;
  jsCategorical: number;
}
interface Categorical {
  name: string;
  reference: number[];
  current: number[];
  chisquare: { statistic: number | 'Infinity'; pValue: number } | null;
  z: { statistic: number; pValue: number } | null;
  jensenshannon: number;
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/drift/scipy-parity.json'), 'utf8')) as {
  pairs: Pair[];
  categorical: Categorical[];
  edges: { values: number[]; sturges: number[] }[];
  quantiles: { values: number[]; q: number[]; quantiles: number[]; mean: number; std: number }[];
  kstwo: [number, number, number][];
};

/** 1e-9 absolute, or relative for magnitudes above 1 (a chi² of 500 carries ~1e-13 of rounding). */
function close(actual: number, expected: number, what: string): void {
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`${what}: ${actual} differs from scipy's ${expected} by ${Math.abs(actual - expected)} (> ${tolerance})`);
  }
}

describe('two-sample statistics from value counts match scipy on the same samples', () => {
  it('covers small and > 1,000-row references, exact and asymptotic KS, ties and constants', () => {
    const names = fixture.pairs.map((p) => p.name);
    expect(fixture.pairs.some((p) => p.reference.length > 1000)).toBe(true);
    expect(fixture.pairs.filter((p) => p.ks.method === 'asymp').length).toBeGreaterThanOrEqual(3);
    expect(names).toEqual(expect.arrayContaining(['heavy-ties', 'constant-same', 'constant-different', 'single-value-window']));
  });

  it.each(fixture.pairs)('ks_2samp on $name', ({ reference, current, ks }) => {
    const result = ks2samp(valueCounts(reference), valueCounts(current));
    expect(result.method).toBe(ks.method);
    close(result.statistic, ks.statistic, 'statistic');
    close(result.pValue, ks.pValue, 'p-value');
  });

  it.each(fixture.pairs)('wasserstein_distance on $name', ({ reference, current, wasserstein, wassersteinNorm }) => {
    const ref = valueCounts(reference);
    close(wassersteinDistance(ref, valueCounts(current)), wasserstein, 'distance');
    close(wassersteinDistance(ref, valueCounts(current)) / Math.max(moments(ref).std, 0.001), wassersteinNorm, 'normed');
  });

  it.each(fixture.pairs)('jensenshannon (Evidently binning) on $name', ({ reference, current, jsNumeric, jsCategorical }) => {
    close(jensenShannonDrift(valueCounts(reference), valueCounts(current), true), jsNumeric, 'numeric');
    close(jensenShannonDrift(valueCounts(reference), valueCounts(current), false), jsCategorical, 'categorical');
  });
});

describe('categorical tests match scipy', () => {
  it.each(fixture.categorical)('chisquare, Z-test and jensenshannon on $name', ({ reference, current, chisquare, z, jensenshannon }) => {
    const ref = valueCounts(reference);
    const cur = valueCounts(current);
    if (chisquare) {
      const mine = chiSquareDrift(ref, cur);
      if (chisquare.statistic === 'Infinity') expect(mine.statistic).toBe(Number.POSITIVE_INFINITY);
      else close(mine.statistic, chisquare.statistic, 'chi²');
      close(mine.pValue, chisquare.pValue, 'chi² p-value');
    }
    if (z) {
      const mine = zTestDrift(ref, cur);
      close(mine.statistic, z.statistic, 'z');
      close(mine.pValue, z.pValue, 'z p-value');
    }
    close(jensenShannonDrift(ref, cur, false), jensenshannon, 'Jensen–Shannon');
  });
});

describe('building blocks match NumPy and scipy', () => {
  it('kstwo.sf over every method range scipy switches between', () => {
    for (const [n, x, p] of fixture.kstwo) close(kstwoSf(x, n), p, `kstwo.sf(${x}, ${n})`);
  });

  it.each(fixture.edges)('histogram_bin_edges(sturges) of $values.length values', ({ values, sturges }) => {
    const c = valueCounts(values);
    const edges = sturgesEdges(c.values[0]!, c.values.at(-1)!, values.length);
    expect(edges).toHaveLength(sturges.length);
    edges.forEach((e, i) => close(e, sturges[i]!, `edge ${i}`));
  });

  it.each(fixture.quantiles)('quantile, mean and std of $values.length values', ({ values, q, quantiles, mean, std }) => {
    const c = valueCounts(values);
    q.forEach((p, i) => close(quantileOf(c, p), quantiles[i]!, `quantile ${p}`));
    close(moments(c).mean, mean, 'mean');
    close(moments(c).std, std, 'std');
  });
});

describe('compareColumn, the path the drift machine takes (profile, then the test Evidently picks), matches scipy', () => {
  /** scipy's answer for the test that was chosen, or null when the fixture has no such number. */
  function expected(test: string, kind: string, pair: Partial<Pair> & Partial<Categorical>): { statistic: number | 'Infinity'; pValue: number | null } | null {
    switch (test) {
      case 'ks':
        return pair.ks ? { statistic: pair.ks.statistic, pValue: pair.ks.pValue } : null;
      case 'wasserstein':
        return pair.wassersteinNorm !== undefined ? { statistic: pair.wassersteinNorm, pValue: null } : null;
      case 'jensenshannon': {
        const js = pair.jensenshannon ?? (kind === 'numeric' ? pair.jsNumeric : pair.jsCategorical);
        return js !== undefined ? { statistic: js, pValue: null } : null;
      }
      case 'chisquare':
        return pair.chisquare ?? null;
      case 'z':
        return pair.z ?? null;
    }
    return null;
  }

  const all = [...fixture.pairs, ...fixture.categorical] as (Partial<Pair> & Partial<Categorical> & { name: string; reference: number[]; current: number[] })[];
  const seen = new Set<string>();

  it.each(all)('$name', (pair) => {
    const profile = profileColumn('x', valueCounts(pair.reference));
    const verdict = compareColumn(profile, valueCounts(pair.current));
    const want = expected(verdict.test!, verdict.kind, pair);
    if (want === null) return; // e.g. a Z-test on a numeric pair: its number is in the categorical set
    seen.add(verdict.test!);
    if (want.statistic === 'Infinity') expect(verdict.statistic).toBeNull();
    else close(verdict.statistic!, want.statistic, `${verdict.test} statistic`);
    if (want.pValue !== null) close(verdict.pValue!, want.pValue, `${verdict.test} p-value`);
  });

  it('exercised every test of the default selection', () => {
    expect([...seen].sort()).toEqual(['chisquare', 'jensenshannon', 'ks', 'wasserstein', 'z']);
  });
});

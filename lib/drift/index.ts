/**
 * The drift core: Evidently's default per-feature drift tests computed from value counts (so the
 * heavy lifting is SQL `GROUP BY` over the window), a training-time baseline profile, and the JSON
 * and HTML drift reports. No CDK, no SDK: the `drift` state machine's handlers call these.
 */
export * from './types';
import type {
  Baseline,
  BuildBaselineInput,
  ColumnProfile,
  DriftOptions,
  DriftReport,
  DriftReportInput,
  FeatureDrift,
  ValueCounts,
} from './types';

/** Bad input to the drift core (malformed value counts, a malformed baseline, a missing column). */
export class DriftInputError extends Error {
  override readonly name = 'DriftInputError';
}

/** Evidently's defaults. */
export const DEFAULT_DRIFT_OPTIONS: DriftOptions = {
  smallReferenceRows: 1000,
  categoricalMaxUnique: 5,
  ksPValue: 0.05,
  chiSquarePValue: 0.05,
  zPValue: 0.05,
  wassersteinDistance: 0.1,
  jensenShannonDistance: 0.1,
  driftShare: 0.5,
};

const todo = (): never => {
  throw new Error('not implemented');
};

/** Value counts of raw samples (NaN and ±Infinity dropped as nulls, as Evidently does). */
export function valueCounts(_samples: Iterable<number>): ValueCounts & { readonly nulls: number } {
  return todo();
}

/** Checks value counts (ascending distinct finite values, positive integer counts); throws {@link DriftInputError}. */
export function checkValueCounts(_counts: unknown, _what: string): ValueCounts {
  return todo();
}

export function profileColumn(_name: string, _counts: ValueCounts, _nulls?: number, _maxDistinct?: number): ColumnProfile {
  return todo();
}

export function buildBaseline(_input: BuildBaselineInput): Baseline {
  return todo();
}

/** Validates a parsed `baseline.json` (zod); throws {@link DriftInputError} naming the bad field. */
export function parseBaseline(_json: unknown): Baseline {
  return todo();
}

export function resolveDriftOptions(_options?: Partial<DriftOptions>): DriftOptions {
  return todo();
}

export function compareColumn(_reference: ColumnProfile, _current: ValueCounts, _options?: Partial<DriftOptions>): FeatureDrift {
  return todo();
}

export function driftReport(_input: DriftReportInput): DriftReport {
  return todo();
}

/** A self-contained HTML page (inline SVG charts, no scripts, no external resources). */
export function renderDriftHtml(_report: DriftReport): string {
  return todo();
}

/** The CLI's per-feature table, plain text. */
export function formatDriftTable(_report: DriftReport): string {
  return todo();
}

// The statistics themselves, scipy-compatible, from value counts.
export interface TestResult {
  readonly statistic: number;
  readonly pValue: number;
}
export function ks2samp(_a: ValueCounts, _b: ValueCounts): TestResult & { readonly method: 'exact' | 'asymp' } {
  return todo();
}
export function wassersteinDistance(_a: ValueCounts, _b: ValueCounts): number {
  return todo();
}
export function chiSquare(_observed: readonly number[], _expected: readonly number[]): TestResult {
  return todo();
}
export function jensenShannon(_p: readonly number[], _q: readonly number[], _base?: number): number {
  return todo();
}

/**
 * The shapes of the drift core: value counts in, a baseline profile per feature, a drift report out.
 * Plain data (JSON-serialisable) so the state machine can pass them between steps and the console
 * can read the report as written.
 */

/** The `schema` tag of a training baseline (`baseline.json`). */
export const BASELINE_SCHEMA = 'mlops-kit/baseline@1';
/** The `schema` tag of a drift report (the JSON model the HTML report is rendered from). */
export const REPORT_SCHEMA = 'mlops-kit/drift-report@1';

/**
 * One column as its distinct non-null values with how often each occurs, ascending by value: what
 * `SELECT v, count(*) FROM … WHERE v IS NOT NULL GROUP BY v ORDER BY v` returns. Every statistic
 * of the core is computed from this, never from the rows themselves.
 */
export interface ValueCounts {
  /** Distinct finite values, strictly ascending. */
  readonly values: readonly number[];
  /** Positive integer counts, one per value. */
  readonly counts: readonly number[];
}

/**
 * The column type by Evidently's rule for numeric data: integer-valued with at most five distinct
 * reference values is categorical (`binary` when at most two), anything else numeric.
 */
export type ColumnKind = 'numeric' | 'categorical' | 'binary';

/** The per-feature tests of Evidently's default selection. */
export type DriftTest = 'ks' | 'chisquare' | 'z' | 'wasserstein' | 'jensenshannon';

/** Equal-width bins: `counts[i]` values fall in `[edges[i], edges[i+1])`, the last bin closed (NumPy's rule). */
export interface Histogram {
  readonly edges: readonly number[];
  readonly counts: readonly number[];
}

export interface Quantile {
  /** Probability in [0, 1]. */
  readonly q: number;
  /** NumPy's default (linear interpolation) quantile of the reference. */
  readonly value: number;
}

/** One category of a low-cardinality column. */
export interface CategoryFrequency {
  readonly value: number;
  readonly count: number;
  /** count / non-null count. */
  readonly share: number;
}

/** The training-time profile of one column. */
export interface ColumnProfile {
  readonly name: string;
  readonly kind: ColumnKind;
  /** Non-null values. */
  readonly count: number;
  readonly nulls: number;
  readonly mean: number;
  /** Population standard deviation (ddof 0, as `np.std`, which Evidently normalises Wasserstein by). */
  readonly std: number;
  readonly min: number;
  readonly max: number;
  readonly quantiles: readonly Quantile[];
  readonly histogram: Histogram;
  /** How many distinct values the reference had (exact, even past the cap). */
  readonly unique: number;
  /**
   * The reference's value counts. Exact when `distinctExact`; past the cap (`maxDistinct` of
   * {@link BuildBaselineInput}) consecutive values are merged into equal-mass groups, each kept as
   * one point at its weighted mean, and statistics computed from it are approximate (bounds in
   * `lib/drift/profile.ts`).
   */
  readonly distinct: ValueCounts;
  readonly distinctExact: boolean;
  /**
   * When `distinct` was merged: how far statistics from it can be from the exact ones, as the
   * distance between the exact and merged reference (Wasserstein in the column's units; KS
   * statistic). null when exact.
   */
  readonly approximation: { readonly wasserstein: number; readonly ks: number } | null;
  /** Category frequencies, for columns with at most `LOW_CARDINALITY` (20) distinct values; else null. */
  readonly categories: readonly CategoryFrequency[] | null;
}

/** The reference of a model version: written at training time, read by every drift run. */
export interface Baseline {
  readonly schema: typeof BASELINE_SCHEMA;
  readonly model: string;
  /** Rows of the training set the profile describes. */
  readonly rows: number;
  /** ISO-8601. */
  readonly createdAt: string;
  readonly features: readonly ColumnProfile[];
  /**
   * The model's output on reference rows (the training rows or a holdout split, so its count
   * need not equal `rows`), named `PREDICTION_FEATURE` (`lib/shared/operations.ts`).
   */
  readonly prediction?: ColumnProfile;
}

export interface BuildBaselineInput {
  readonly model: string;
  /** Feature name → its value counts over the training rows. */
  readonly columns: Readonly<Record<string, ValueCounts>>;
  /** Feature name → null count (missing means 0). Every column's count + nulls must be equal. */
  readonly nulls?: Readonly<Record<string, number>>;
  /** The model's predictions on reference rows (the training rows or a holdout split). */
  readonly prediction?: ValueCounts;
  /** @default now */
  readonly createdAt?: string;
  /** Distinct values kept per column before merging. @default 10000 */
  readonly maxDistinct?: number;
}

/** Thresholds and rules; every field has Evidently's default. */
export interface DriftOptions {
  /** References with at most this many non-null values get p-value tests, larger ones distances. @default 1000 */
  readonly smallReferenceRows: number;
  /** A column with at most this many distinct values (reference ∪ current) is tested as categorical. @default 5 */
  readonly categoricalMaxUnique: number;
  /** KS drift when p ≤ this (Evidently's `ks_stat_test` compares with ≤). @default 0.05 */
  readonly ksPValue: number;
  /** Chi-squared drift when p < this. @default 0.05 */
  readonly chiSquarePValue: number;
  /** Z-test drift when p < this. @default 0.05 */
  readonly zPValue: number;
  /** Wasserstein distance / reference std: drift when ≥ this. @default 0.1 */
  readonly wassersteinDistance: number;
  /** Jensen–Shannon distance (natural log): drift when ≥ this. @default 0.1 */
  readonly jensenShannonDistance: number;
  /** Dataset drift when drifted features / tested features ≥ this. @default 0.5 */
  readonly driftShare: number;
}

/** Reference and current distributions on the same axis, for the report's charts. */
export type DriftHistogram =
  | {
      readonly type: 'bins';
      /** The reference histogram's edges. */
      readonly edges: readonly number[];
      readonly reference: readonly number[];
      readonly current: readonly number[];
      /** Current values below the first edge / above the last. */
      readonly currentBelow: number;
      readonly currentAbove: number;
    }
  | {
      readonly type: 'categories';
      /** Union of reference and current values, ascending. */
      readonly values: readonly number[];
      readonly reference: readonly number[];
      readonly current: readonly number[];
    };

/** The verdict for one column. */
export interface FeatureDrift {
  readonly name: string;
  readonly kind: ColumnKind;
  /** `no-values`: the window holds no non-null value of this column, so nothing was tested. */
  readonly status: 'tested' | 'no-values';
  /** null when not tested. */
  readonly test: DriftTest | null;
  /** Human name of the test, e.g. "K-S p-value". */
  readonly testName: string;
  /**
   * The test's statistic: KS D, chi², z, Wasserstein distance / reference std, Jensen–Shannon
   * distance. null when not tested, or when infinite (chi² with a value the reference never had;
   * its p-value is then 0).
   */
  readonly statistic: number | null;
  /** For ks, chisquare and z; null for distances. */
  readonly pValue: number | null;
  /** What the threshold is compared with: the p-value for tests, the statistic for distances. */
  readonly score: number | null;
  readonly threshold: number;
  /** `p-value` tests drift below the threshold, `distance` at or above it. */
  readonly scoreType: 'p-value' | 'distance';
  readonly drifted: boolean;
  /** False when computed from a reference merged past its distinct-value cap (see `note`). */
  readonly exact: boolean;
  readonly note?: string;
  readonly referenceCount: number;
  /** Non-null values of the column in the window. */
  readonly currentCount: number;
  readonly histogram: DriftHistogram;
}

export interface DatasetDrift {
  /** Rows in the window. */
  readonly rows: number;
  readonly features: number;
  /** Features with at least one value in the window. */
  readonly testedFeatures: number;
  readonly driftedFeatures: readonly string[];
  /** driftedFeatures / testedFeatures; null when nothing was tested (no traffic). */
  readonly driftShare: number | null;
  readonly driftShareThreshold: number;
  readonly datasetDrift: boolean;
  /** null when the baseline or the window has no prediction column. */
  readonly predictionDrift: boolean | null;
}

export interface DriftReport {
  readonly schema: typeof REPORT_SCHEMA;
  readonly model: string;
  readonly modelVersion: string;
  readonly window: { readonly start: string; readonly end: string };
  readonly generatedAt: string;
  /** `no-traffic`: the window held no rows; nothing was tested and nothing drifted. */
  readonly status: 'ok' | 'no-traffic';
  /** One sentence for people: the verdict, or "No traffic in window …". */
  readonly summary: string;
  readonly referenceRows: number;
  readonly dataset: DatasetDrift;
  readonly features: readonly FeatureDrift[];
  /** The model output's verdict, named `PREDICTION_FEATURE` (`lib/shared/operations.ts`); null without one. */
  readonly prediction: FeatureDrift | null;
  readonly options: DriftOptions;
}

export interface DriftReportInput {
  readonly baseline: Baseline;
  /** Feature name → value counts in the window; every baseline feature must be present (empty when no values). */
  readonly current: Readonly<Record<string, ValueCounts>>;
  readonly prediction?: ValueCounts;
  /** Rows in the window (`count(*)`). @default the largest column total */
  readonly rows?: number;
  readonly window: { readonly start: string; readonly end: string };
  readonly model: string;
  readonly modelVersion: string;
  readonly options?: Partial<DriftOptions>;
  /** @default now */
  readonly generatedAt?: string;
}

/**
 * The drift core: Evidently's default per-feature drift tests computed from value counts (so the
 * heavy lifting is SQL `GROUP BY` over the window), a training-time baseline profile, and the JSON
 * and HTML drift reports. No CDK, no SDK: the `drift` state machine's handlers call these.
 *
 * @example
 * const baseline = buildBaseline({ model: 'wine-quality', columns: { alcohol: valueCounts(trainAlcohol) } });
 * const report = driftReport({ baseline, current: { alcohol: countsFromSql }, window, model, modelVersion: '3' });
 * renderDriftHtml(report); formatDriftTable(report);
 */
export * from './types';
export {
  DriftInputError,
  DEFAULT_MAX_DISTINCT,
  LOW_CARDINALITY,
  PROFILE_QUANTILES,
  checkValueCounts,
  valueCounts,
  columnKind,
  profileColumn,
  buildBaseline,
  parseBaseline,
} from './profile';
export { DEFAULT_DRIFT_OPTIONS, TEST_NAMES, resolveDriftOptions, selectTest, compareColumn, driftReport } from './compare';
export { renderDriftHtml, formatDriftTable, escapeHtml } from './render';
export {
  type TestResult,
  ks2samp,
  ksStatistic,
  wassersteinDistance,
  chiSquare,
  jensenShannon,
  chiSquareDrift,
  zTestDrift,
  jensenShannonDrift,
} from './stats';
export { type DriftMetricDatum, driftMetricData, driftDetectedDetail } from './metrics';

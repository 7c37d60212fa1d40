/**
 * A drift report as CloudWatch data points and as the `DriftDetected` event's detail, with the
 * names of `lib/shared/operations.ts`, so the machine that publishes them and the alarms and rules
 * that watch them cannot disagree on a name. Plain data: the caller publishes.
 */
import { DRIFT_METRICS, METRIC_NAMESPACES, type DriftDetectedDetail } from '../shared/operations';
import type { DriftReport } from './types';

export interface DriftMetricDatum {
  readonly namespace: typeof METRIC_NAMESPACES.drift;
  readonly name: (typeof DRIFT_METRICS)[keyof typeof DRIFT_METRICS];
  readonly value: number;
  /** `Model`, plus `Feature` for per-feature metrics (the prediction is the feature `prediction`). */
  readonly dimensions: Readonly<Record<string, string>>;
}

/**
 * The report's metrics. A window without traffic publishes `WindowRows` 0 and `DatasetDrift` 0
 * only (a share of nothing is not 0 %); an untested feature, or an infinite chi², publishes no
 * score but still its `FeatureDrifted` 0/1.
 */
export function driftMetricData(report: DriftReport): DriftMetricDatum[] {
  const namespace = METRIC_NAMESPACES.drift;
  const model = { Model: report.model };
  const out: DriftMetricDatum[] = [
    { namespace, name: DRIFT_METRICS.windowRows, value: report.dataset.rows, dimensions: model },
    { namespace, name: DRIFT_METRICS.datasetDrift, value: report.dataset.datasetDrift ? 1 : 0, dimensions: model },
  ];
  if (report.dataset.driftShare !== null) {
    out.push({ namespace, name: DRIFT_METRICS.driftShare, value: report.dataset.driftShare, dimensions: model });
  }
  if (report.dataset.predictionDrift !== null) {
    out.push({ namespace, name: DRIFT_METRICS.predictionDrift, value: report.dataset.predictionDrift ? 1 : 0, dimensions: model });
  }
  for (const f of [...report.features, ...(report.prediction ? [report.prediction] : [])]) {
    if (f.status !== 'tested') continue;
    const dimensions = { Model: report.model, Feature: f.name };
    if (f.statistic !== null) out.push({ namespace, name: DRIFT_METRICS.featureScore, value: f.statistic, dimensions });
    out.push({ namespace, name: DRIFT_METRICS.featureDrifted, value: f.drifted ? 1 : 0, dimensions });
  }
  return out;
}

/** The `DriftDetected` detail for a report that found dataset drift; null when it did not. */
export function driftDetectedDetail(
  report: DriftReport,
  where: { readonly environment: string; readonly reportUri: string; readonly htmlReportUri: string },
): DriftDetectedDetail | null {
  if (!report.dataset.datasetDrift || report.dataset.driftShare === null) return null;
  return {
    environment: where.environment,
    model: report.model,
    modelVersion: report.modelVersion,
    windowStart: report.window.start,
    windowEnd: report.window.end,
    driftShare: report.dataset.driftShare,
    driftedFeatures: [...report.dataset.driftedFeatures],
    reportUri: where.reportUri,
    htmlReportUri: where.htmlReportUri,
  };
}

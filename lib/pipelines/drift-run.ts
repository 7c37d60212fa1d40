/**
 * The drift machine's "Compute report": reads the window's value counts (the Athena result of
 * "Aggregate window"), compares them with the version's baseline with the drift core, writes
 * `report.json` and `report.html` under the curated zone, and returns the verdict, the metrics to
 * publish and the `DriftDetected` detail — small enough for the execution's state, whatever the
 * number of features.
 *
 * An empty window is a result, not an error: the report says "no traffic in window", nothing is
 * flagged and no event is sent.
 *
 * @example
 * const outcome = await computeDrift({ plan, result: 's3://athena-results/…/q.csv' }, { objects, environment: 'local' });
 * outcome.dataset_drift; // false
 */
import {
  driftDetectedDetail,
  type DriftMetricDatum,
  type DriftOptions,
  driftMetricData,
  driftReport,
  type DriftReport,
  parseBaseline,
  renderDriftHtml,
  type ValueCounts,
} from '../drift';
import { type DriftDetectedDetail, PREDICTION_FEATURE } from '../shared/operations';
import { parseS3Uri } from './catalog';
import type { DriftPlan } from './drift-plan';
import type { ObjectStore } from './objects';
import { parseValueCounts, rowsOf } from './value-counts';

/** One metric value, as the handler publishes it (Embedded Metric Format). */
export type DriftMetric = DriftMetricDatum;

export interface DriftOutcome {
  readonly status: DriftReport['status'];
  readonly summary: string;
  readonly model: string;
  readonly version: string;
  readonly window: { readonly start: string; readonly end: string };
  readonly rows: number;
  readonly dataset_drift: boolean;
  readonly drift_share: number | null;
  readonly drifted_features: readonly string[];
  readonly prediction_drift: boolean | null;
  /** One line per feature (and the prediction, last) for the CLI and the console. */
  readonly features: readonly {
    readonly name: string;
    readonly test: string;
    readonly score: number | null;
    readonly threshold: number;
    readonly drifted: boolean;
    readonly status: string;
  }[];
  readonly report_uri: string;
  readonly html_report_uri: string;
  /** The `DriftDetected` detail, when dataset drift was found. */
  readonly event?: DriftDetectedDetail;
  readonly metrics: readonly DriftMetric[];
}

export interface ComputeDriftRequest {
  readonly plan: Pick<DriftPlan, 'model' | 'version' | 'baseline_uri' | 'window' | 'features' | 'report'>;
  /** `s3://…/<query id>.csv`: the window's value counts. */
  readonly result: string;
}

const read = async (objects: ObjectStore, uri: string, what: string) => {
  const { bucket, key } = parseS3Uri(uri, what);
  return Buffer.from((await objects.get(bucket, key)).body).toString('utf8');
};

export async function computeDrift(
  request: ComputeDriftRequest,
  deps: {
    readonly objects: ObjectStore;
    readonly environment: string;
    /** The tests' thresholds and rules. @default Evidently's */
    readonly options?: Partial<DriftOptions>;
    readonly now?: () => Date;
  },
): Promise<DriftOutcome> {
  const { plan } = request;
  const names = [...plan.features, PREDICTION_FEATURE];
  const counts = parseValueCounts(await read(deps.objects, request.result, 'the query result'), names);
  const baseline = parseBaseline(JSON.parse(await read(deps.objects, plan.baseline_uri, 'baseline_uri')));
  const current: Record<string, ValueCounts> = {};
  let rows = 0;
  for (const f of plan.features) {
    const c = counts.get(f)!;
    current[f] = { values: c.values, counts: c.counts };
    rows = Math.max(rows, rowsOf(c));
  }
  const p = counts.get(PREDICTION_FEATURE)!;
  rows = Math.max(rows, rowsOf(p));
  const report = driftReport({
    baseline,
    current,
    prediction: { values: p.values, counts: p.counts },
    rows,
    window: plan.window,
    model: plan.model,
    modelVersion: plan.version,
    ...(deps.options ? { options: deps.options } : {}),
    generatedAt: (deps.now ?? (() => new Date()))().toISOString(),
  });

  const put = async (uri: string, body: string, type: string) => {
    const { bucket, key } = parseS3Uri(uri, 'the report location');
    await deps.objects.put(bucket, key, body, type);
  };
  // HTML first: report.json present means the run's report is complete.
  await put(plan.report.html, renderDriftHtml(report), 'text/html; charset=utf-8');
  await put(plan.report.json, `${JSON.stringify(report, null, 2)}\n`, 'application/json');

  const d = report.dataset;
  const tested = [...report.features, ...(report.prediction ? [report.prediction] : [])];
  const event = driftDetectedDetail(report, { environment: deps.environment, reportUri: plan.report.json, htmlReportUri: plan.report.html }) ?? undefined;
  return {
    status: report.status,
    summary: report.summary,
    model: plan.model,
    version: plan.version,
    window: plan.window,
    rows: d.rows,
    dataset_drift: d.datasetDrift,
    drift_share: d.driftShare,
    drifted_features: d.driftedFeatures,
    prediction_drift: d.predictionDrift,
    features: tested.map((f) => ({
      name: f.name,
      test: f.testName,
      score: f.score,
      threshold: f.threshold,
      drifted: f.drifted,
      status: f.status,
    })),
    report_uri: plan.report.json,
    html_report_uri: plan.report.html,
    ...(event ? { event } : {}),
    metrics: driftMetricData(report),
  };
}

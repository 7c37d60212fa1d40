/**
 * Drift machine, "Compute report": compares the window's value counts with the baseline, writes
 * the JSON and HTML reports, and publishes the drift metrics as Embedded Metric Format log lines
 * (CloudWatch extracts them from the function's log: no PutMetricData call, no extra permission)
 * (lib/pipelines/drift-run.ts).
 *
 * Event: `{ plan, result }`; returns the outcome (verdict, per-feature lines, report URIs, event detail).
 *
 * Environment:
 *   ATHENA_RESULTS_BUCKET  the query result (read)
 *   ARTIFACTS_BUCKET       baselines (read)
 *   REPORTS_BUCKET         the curated bucket reports are written to (drift/)
 *   ENVIRONMENT            the environment's name, for the DriftDetected event
 *   DRIFT_THRESHOLDS       the tests' thresholds and rules (lib/drift DriftOptions, JSON)
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { s3Client } from '../lib/adapters/clients';
import { type DriftOptions, resolveDriftOptions } from '../lib/drift';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { s3Objects } from '../lib/adapters/s3/objects';
import { parseS3Uri } from '../lib/pipelines/catalog';
import { type ComputeDriftRequest, computeDrift, type DriftMetric } from '../lib/pipelines/drift-run';
import { PipelineInputError } from '../lib/pipelines/errors';
import { driftReportEventSchema, parseStepEvent } from '../lib/pipelines/step-events';
import { DRIFT_METRICS, METRIC_NAMESPACES } from '../lib/shared/operations';

const env = handlerEnv({
  ATHENA_RESULTS_BUCKET: required,
  ARTIFACTS_BUCKET: required,
  REPORTS_BUCKET: required,
  ENVIRONMENT: required,
  DRIFT_THRESHOLDS: required,
});
const options = resolveDriftOptions(JSON.parse(env.DRIFT_THRESHOLDS) as Partial<DriftOptions>);
const objects = s3Objects(s3Client(env));
const metrics = new Metrics({ namespace: METRIC_NAMESPACES.drift, serviceName: 'drift' });
// The alarms and dashboards watch {Model} and {Model, Feature}: no `service` dimension.
metrics.clearDefaultDimensions();

/** One EMF document per dimension set (a document's metrics share its dimensions). */
function publish(values: readonly DriftMetric[]): void {
  const groups = new Map<string, DriftMetric[]>();
  for (const m of values) {
    const key = JSON.stringify(m.dimensions);
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  for (const group of groups.values()) {
    metrics.addDimensions({ ...group[0]!.dimensions });
    for (const m of group) metrics.addMetric(m.name, m.name === DRIFT_METRICS.windowRows ? MetricUnit.Count : MetricUnit.NoUnit, m.value);
    metrics.publishStoredMetrics();
  }
}

export const handler = async (input: unknown) => {
  const event = parseStepEvent(driftReportEventSchema, input, 'Compute report') as unknown as ComputeDriftRequest;
  // The role could not do otherwise; checking here turns an AccessDenied into a sentence.
  if (parseS3Uri(event.result).bucket !== env.ATHENA_RESULTS_BUCKET) {
    throw new PipelineInputError(`result ${event.result} is not in the Athena results bucket`);
  }
  for (const uri of [event.plan.report.json, event.plan.report.html]) {
    if (parseS3Uri(uri).bucket !== env.REPORTS_BUCKET) throw new PipelineInputError(`report ${uri} is not in the reports bucket`);
  }
  const outcome = await computeDrift(event, { objects, environment: env.ENVIRONMENT, options });
  publish(outcome.metrics);
  const { metrics: _published, ...rest } = outcome;
  return rest;
};

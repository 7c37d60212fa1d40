/**
 * What the CloudWatch agent (the `amazon-cloudwatch-observability` EKS add-on) is told, so the
 * model pods' `/metrics` become the per-version serving metrics the canary alarms and the
 * dashboard read: `SERVING_METRICS` in `METRIC_NAMESPACES.serving` with dimensions Model and
 * ModelVersion.
 *
 * ```
 * model pod :9000/metrics ─scrape (1 min)→ cloudwatch-agent ─EMF log events→ /aws/containerinsights/<cluster>/prometheus
 *        ─CloudWatch extracts→ MlopsKit/Serving  Requests | Errors | LatencyP99  {Model, ModelVersion}
 * ```
 *
 * The scrape keeps only the `mlops_model_*` family (fixed labels per pod, so the series count is
 * bounded by the versions served) and renames it on the way: metric names to `SERVING_METRICS`,
 * labels `model`/`version` to the dimensions. Counters reach CloudWatch as per-scrape deltas
 * (the agent's own conversion), so `Sum` per minute is requests per minute across pods and
 * protocols; the p99 gauge is per pod, so alarms read its `Maximum`.
 *
 * @example
 * const values = cloudWatchObservabilityValues('mlops-staging');
 * new eks.CfnAddon(this, 'Observability', { addonName: 'amazon-cloudwatch-observability', configurationValues: JSON.stringify(values), … });
 */
import { METRIC_NAMESPACES, SERVING_METRICS } from '../shared/operations';
import { MODEL_CONTAINER, MODEL_NAMESPACE, MODEL_PORT } from './seldon';

/** The scrape job's name: the EMF processor selects its samples by it. */
export const SERVING_SCRAPE_JOB = 'mlops-model-servers';

/** Prometheus metric → CloudWatch metric. */
export const SERVING_METRIC_NAMES: Readonly<Record<string, string>> = {
  mlops_model_requests_total: SERVING_METRICS.requests,
  mlops_model_errors_total: SERVING_METRICS.errors,
  mlops_model_latency_p99_seconds: SERVING_METRICS.latencyP99,
};

/** The Prometheus scrape configuration (`prometheus.yaml`, as an object). */
export function servingScrapeConfig(): Record<string, unknown> {
  const keepNames = Object.keys(SERVING_METRIC_NAMES).join('|');
  return {
    global: { scrape_interval: '1m', scrape_timeout: '10s' },
    scrape_configs: [
      {
        job_name: SERVING_SCRAPE_JOB,
        metrics_path: '/metrics',
        kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [MODEL_NAMESPACE] } }],
        relabel_configs: [
          // The model container's port of pods the kit deployed (predictor label), nothing else.
          { source_labels: ['__meta_kubernetes_pod_label_mlops_kit_model_version'], regex: '.+', action: 'keep' },
          { source_labels: ['__meta_kubernetes_pod_container_name'], regex: MODEL_CONTAINER, action: 'keep' },
          { source_labels: ['__meta_kubernetes_pod_container_port_number'], regex: String(MODEL_PORT), action: 'keep' },
          { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
        ],
        metric_relabel_configs: [
          { source_labels: ['__name__'], regex: `(${keepNames})`, action: 'keep' },
          ...Object.entries(SERVING_METRIC_NAMES).map(([from, to]) => ({
            source_labels: ['__name__'],
            regex: from,
            target_label: '__name__',
            replacement: to,
          })),
          { source_labels: ['model'], target_label: 'Model' },
          { source_labels: ['version'], target_label: 'ModelVersion' },
          { regex: '^(model|version)$', action: 'labeldrop' },
        ],
      },
    ],
  };
}

/**
 * The add-on's configuration values: Container Insights (the dashboard's nodes and pods) and the
 * Prometheus pipeline above. Application Signals is left out: nothing in the kit is instrumented
 * for it, and it would need X-Ray permissions.
 */
export function cloudWatchObservabilityValues(clusterName: string): Record<string, unknown> {
  return {
    agent: {
      config: {
        logs: {
          metrics_collected: {
            kubernetes: { cluster_name: clusterName, enhanced_container_insights: true },
            prometheus: {
              cluster_name: clusterName,
              log_group_name: prometheusLogGroupName(clusterName),
              prometheus_config_path: '/etc/prometheusconfig/prometheus.yaml',
              emf_processor: {
                metric_namespace: METRIC_NAMESPACES.serving,
                metric_declaration: [
                  {
                    source_labels: ['job'],
                    label_matcher: `^${SERVING_SCRAPE_JOB}$`,
                    dimensions: [['Model', 'ModelVersion']],
                    metric_selectors: Object.values(SERVING_METRIC_NAMES).map((n) => `^${n}$`),
                  },
                ],
              },
            },
          },
        },
      },
      prometheus: { config: servingScrapeConfig() },
    },
    containerLogs: { enabled: true },
  };
}

/** Where the agent writes the EMF events CloudWatch extracts the serving metrics from. */
export function prometheusLogGroupName(clusterName: string): string {
  return `/aws/containerinsights/${clusterName}/prometheus`;
}

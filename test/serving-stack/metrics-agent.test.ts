/**
 * What the CloudWatch agent is told: applied here, rule by rule as Prometheus applies
 * `metric_relabel_configs`, to the model server's real `/metrics` text, the scrape keeps exactly the
 * per-version series and names them as `SERVING_METRICS` with the Model/ModelVersion labels the EMF
 * processor turns into dimensions.
 */
import { describe, expect, it } from 'vitest';
import { ServingMetrics } from '../../lib/serving/metrics';
import { compileModel } from '../../lib/serving/model';
import {
  cloudWatchObservabilityValues,
  SERVING_SCRAPE_JOB,
  servingScrapeConfig,
} from '../../lib/serving-infra/metrics-agent';
import { MODEL_NAMESPACE } from '../../lib/serving-infra/seldon';
import { SERVING_METRICS } from '../../lib/shared/operations';
import { TINY } from '../serving/helpers';

type Rule = { source_labels?: string[]; regex?: string; action?: string; target_label?: string; replacement?: string };

/** Prometheus relabelling (keep, replace, labeldrop) of one sample's labels. */
function relabel(labels: Record<string, string>, rules: Rule[]): Record<string, string> | undefined {
  let l = { ...labels };
  for (const r of rules) {
    const re = new RegExp(`^(?:${r.regex ?? '(.*)'})$`);
    const value = (r.source_labels ?? []).map((s) => l[s] ?? '').join(';');
    const action = r.action ?? 'replace';
    if (action === 'keep') {
      if (!re.test(value)) return undefined;
    } else if (action === 'labeldrop') {
      l = Object.fromEntries(Object.entries(l).filter(([k]) => !re.test(k)));
    } else {
      const m = re.exec(value);
      if (m) l[r.target_label!] = (r.replacement ?? '$1').replace(/\$(\d)/g, (_, i) => m[Number(i)] ?? '');
    }
  }
  return l;
}

function samples(text: string): Record<string, string>[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)!;
      const labels: Record<string, string> = { __name__: m[1]! };
      for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
      return labels;
    });
}

describe('the CloudWatch agent configuration', () => {
  it('keeps only the per-version series of a real /metrics body and renames them for CloudWatch', () => {
    const m = new ServingMetrics(compileModel(TINY, { name: 'wine-quality', version: '4' }));
    const id = m.route({ protocol: 'seldon', route: '/api/v1.0/predictions', predicts: true });
    m.route({ protocol: 'health', route: '/health/ping' });
    m.observe(id, 200, 0.002);
    m.observe(id, 500, 0.004);
    const rules = (servingScrapeConfig().scrape_configs as { metric_relabel_configs: Rule[] }[])[0]!.metric_relabel_configs;
    const kept = samples(m.render())
      .map((s) => relabel(s, rules))
      .filter((s): s is Record<string, string> => s !== undefined);
    expect(kept).toEqual([
      { __name__: SERVING_METRICS.requests, Model: 'wine-quality', ModelVersion: '4', protocol: 'seldon' },
      { __name__: SERVING_METRICS.errors, Model: 'wine-quality', ModelVersion: '4', protocol: 'seldon' },
      { __name__: SERVING_METRICS.latencyP99, Model: 'wine-quality', ModelVersion: '4', protocol: 'seldon' },
    ]);
  });

  it('scrapes the model container of kit-deployed pods in the model namespace, and declares Model/ModelVersion dimensions', () => {
    const job = (servingScrapeConfig().scrape_configs as Record<string, any>[])[0]!;
    expect(job.job_name).toBe(SERVING_SCRAPE_JOB);
    expect(job.kubernetes_sd_configs).toEqual([{ role: 'pod', namespaces: { names: [MODEL_NAMESPACE] } }]);
    const values = cloudWatchObservabilityValues('mlops-staging') as any;
    const prom = values.agent.config.logs.metrics_collected.prometheus;
    expect(prom.log_group_name).toBe('/aws/containerinsights/mlops-staging/prometheus');
    expect(prom.emf_processor.metric_namespace).toBe('MlopsKit/Serving');
    expect(prom.emf_processor.metric_declaration).toEqual([
      expect.objectContaining({ dimensions: [['Model', 'ModelVersion']], label_matcher: `^${SERVING_SCRAPE_JOB}$` }),
    ]);
  });
});

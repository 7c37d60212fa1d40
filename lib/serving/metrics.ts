/**
 * The model server's Prometheus metrics, rendered as text exposition format 0.0.4 at `GET /metrics`.
 *
 * | metric                                          | type      | labels                                   |
 * |-------------------------------------------------|-----------|------------------------------------------|
 * | `mlops_serving_requests_total`                  | counter   | model, version, protocol, route, code    |
 * | `mlops_serving_request_errors_total`            | counter   | same (code ≥ 400)                        |
 * | `mlops_serving_request_duration_seconds`        | histogram | same                                     |
 * | `mlops_serving_prediction_rows_total`           | counter   | model, version, protocol                 |
 * | `mlops_serving_feedback_total`, `…_reward_total`| counter   | model, version                           |
 * | `mlops_serving_request_log_records_total`       | counter   | model, version, outcome (written, dropped, failed) |
 * | `mlops_serving_request_log_queue_depth`         | gauge     | model, version                           |
 *
 * Series are created on first use and kept in arrays indexed by route, so recording a request is a
 * map lookup on the status code and a few increments: no label strings are built per request.
 */
import type { ServedModel } from './model';

/** Histogram bounds in seconds: fine below a millisecond, where this server lives. */
export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5,
] as const;

/** A route's labels: `protocol` (`seldon`, `oip`, `health`, `metrics`, `none`) and a path template. */
export interface RouteLabels {
  readonly protocol: string;
  readonly route: string;
}

interface Series {
  readonly labels: string;
  readonly code: number;
  requests: number;
  readonly buckets: Float64Array;
  sum: number;
}

/** Escapes a label value as the exposition format requires. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** The server's metrics. One instance per server. */
export class ServingMetrics {
  private readonly base: string;
  private readonly routes: RouteLabels[] = [];
  private readonly series: Map<number, Series>[] = [];
  private readonly rows = new Map<string, number>();
  private feedbackCount = 0;
  private feedbackReward = 0;
  private readonly logRecords = { written: 0, dropped: 0, failed: 0 };
  /** Read at render time: the request logger's queue length. */
  queueDepth: () => number = () => 0;

  constructor(model: ServedModel) {
    this.base = `model="${labelValue(model.name)}",version="${labelValue(model.version ?? '')}"`;
  }

  /**
   * Registers a route and returns the id to record its requests under.
   *
   * @example
   * const id = metrics.route({ protocol: 'oip', route: '/v2/models/{model}/infer' });
   */
  route(labels: RouteLabels): number {
    this.routes.push(labels);
    this.series.push(new Map());
    return this.routes.length - 1;
  }

  /**
   * Records one answered request.
   *
   * @example
   * metrics.observe(id, 200, 0.0004);
   */
  observe(routeId: number, code: number, seconds: number): void {
    const byCode = this.series[routeId]!;
    let s = byCode.get(code);
    if (s === undefined) {
      const r = this.routes[routeId]!;
      s = {
        labels: `${this.base},protocol="${labelValue(r.protocol)}",route="${labelValue(r.route)}",code="${code}"`,
        code,
        requests: 0,
        buckets: new Float64Array(LATENCY_BUCKETS.length),
        sum: 0,
      };
      byCode.set(code, s);
    }
    s.requests++;
    s.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        s.buckets[i]!++;
        break;
      }
    }
  }

  /** Counts rows predicted for a protocol. */
  predicted(protocol: string, rows: number): void {
    this.rows.set(protocol, (this.rows.get(protocol) ?? 0) + rows);
  }

  /** Counts one feedback message and its reward. */
  feedback(reward: number | undefined): void {
    this.feedbackCount++;
    if (reward !== undefined) this.feedbackReward += reward;
  }

  /** Counts request-log records by outcome. */
  logged(outcome: 'written' | 'dropped' | 'failed', n: number): void {
    this.logRecords[outcome] += n;
  }

  /**
   * Renders every metric in the Prometheus text format.
   *
   * @example
   * res.end(metrics.render());
   */
  render(): string {
    const out: string[] = [];
    const head = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const all = this.series.flatMap((m) => [...m.values()]);

    head('mlops_serving_requests_total', 'counter', 'Requests answered, by route and HTTP status.');
    for (const s of all) out.push(`mlops_serving_requests_total{${s.labels}} ${s.requests}`);
    head(
      'mlops_serving_request_errors_total',
      'counter',
      'Requests answered with an HTTP status of 400 or more.',
    );
    for (const s of all) {
      if (s.code >= 400) out.push(`mlops_serving_request_errors_total{${s.labels}} ${s.requests}`);
    }
    head('mlops_serving_request_duration_seconds', 'histogram', 'Time from request to response, in seconds.');
    for (const s of all) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        out.push(`mlops_serving_request_duration_seconds_bucket{${s.labels},le="${le}"} ${cumulative}`);
      });
      out.push(`mlops_serving_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.requests}`);
      out.push(`mlops_serving_request_duration_seconds_sum{${s.labels}} ${s.sum}`);
      out.push(`mlops_serving_request_duration_seconds_count{${s.labels}} ${s.requests}`);
    }
    head('mlops_serving_prediction_rows_total', 'counter', 'Rows predicted, by protocol.');
    for (const [protocol, n] of this.rows) {
      out.push(`mlops_serving_prediction_rows_total{${this.base},protocol="${labelValue(protocol)}"} ${n}`);
    }
    head('mlops_serving_feedback_total', 'counter', 'Seldon feedback messages received.');
    out.push(`mlops_serving_feedback_total{${this.base}} ${this.feedbackCount}`);
    head('mlops_serving_feedback_reward_total', 'counter', 'Sum of the rewards in Seldon feedback messages.');
    out.push(`mlops_serving_feedback_reward_total{${this.base}} ${this.feedbackReward}`);
    head(
      'mlops_serving_request_log_records_total',
      'counter',
      'Request-log records, by outcome: written, dropped (queue full), failed (sink error).',
    );
    for (const [outcome, n] of Object.entries(this.logRecords)) {
      out.push(`mlops_serving_request_log_records_total{${this.base},outcome="${outcome}"} ${n}`);
    }
    head('mlops_serving_request_log_queue_depth', 'gauge', 'Request-log records waiting to be written.');
    out.push(`mlops_serving_request_log_queue_depth{${this.base}} ${this.queueDepth()}`);
    return out.join('\n') + '\n';
  }
}

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
 * | `mlops_model_requests_total`                    | counter   | model, version, protocol                 |
 * | `mlops_model_errors_total`                      | counter   | same (code ≥ 400)                        |
 * | `mlops_model_request_duration_seconds`          | histogram | same                                     |
 * | `mlops_model_latency_p99_seconds`               | gauge     | same; over the last {@link P99_WINDOW_MS} |
 *
 * Series are created on first use and kept in arrays indexed by route, so recording a request is a
 * map lookup on the status code and a few increments: no label strings are built per request.
 *
 * The `mlops_model_*` family counts prediction requests only (Seldon predictions, OIP infer), one
 * series per protocol: what a scraper turns into the per-version `Requests`, `Errors` and
 * `LatencyP99` of `SERVING_METRICS` (dimensions Model, ModelVersion), which the canary alarms
 * watch. Its labels are fixed per process (the served model and version) and `protocol` is seldon
 * or oip, so a pod has at most two such series whatever its traffic: cardinality is bounded by the
 * versions served, never by requests. The p99 gauge exists because CloudWatch cannot take a
 * quantile of a Prometheus histogram: the server computes it from its own buckets over a sliding
 * window, at render time, off the hot path.
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
  /**
   * The route answers predictions: its requests also count in the per-model series of its protocol.
   * @default false
   */
  readonly predicts?: boolean;
}

/** How far back `mlops_model_latency_p99_seconds` looks. */
export const P99_WINDOW_MS = 60_000;
/** How often (at most) a render keeps a snapshot of the buckets to difference against. */
const SNAPSHOT_EVERY_MS = 10_000;

/** One protocol's prediction requests (the `mlops_model_*` family). */
interface ModelSeries {
  readonly labels: string;
  requests: number;
  errors: number;
  readonly buckets: Float64Array;
  sum: number;
  /** Cumulative buckets at past renders, oldest first: the p99 window's start. */
  readonly snapshots: { readonly t: number; readonly buckets: Float64Array }[];
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
  /** By route id: the series its last request went to (traffic is mostly one status: no map lookup). */
  private readonly lastSeries: (Series | undefined)[] = [];
  /** By route id: the per-model series a prediction route also counts in. */
  private readonly modelSeriesOf: (ModelSeries | undefined)[] = [];
  private readonly modelSeries = new Map<string, ModelSeries>();
  private readonly now: () => number;
  /** Rows predicted by protocol, in first-use order; each a counter object, so counting is one add. */
  private readonly rows = new Map<string, { n: number }>();
  /** The protocol counted last and its counter: traffic is mostly one protocol, so no map lookup. */
  private lastProtocol = '';
  private lastRows: { n: number } | undefined;
  private feedbackCount = 0;
  private feedbackReward = 0;
  private readonly logRecords = { written: 0, dropped: 0, failed: 0 };
  /** Read at render time: the request logger's queue length. */
  queueDepth: () => number = () => 0;

  /** @param now the clock of the p99 window (tests pass their own) */
  constructor(model: ServedModel, now: () => number = Date.now) {
    this.base = `model="${labelValue(model.name)}",version="${labelValue(model.version ?? '')}"`;
    this.now = now;
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
    this.lastSeries.push(undefined);
    let model: ModelSeries | undefined;
    if (labels.predicts === true) {
      model = this.modelSeries.get(labels.protocol);
      if (model === undefined) {
        model = {
          labels: `${this.base},protocol="${labelValue(labels.protocol)}"`,
          requests: 0,
          errors: 0,
          buckets: new Float64Array(LATENCY_BUCKETS.length + 1),
          sum: 0,
          snapshots: [{ t: this.now(), buckets: new Float64Array(LATENCY_BUCKETS.length + 1) }],
        };
        this.modelSeries.set(labels.protocol, model);
      }
    }
    this.modelSeriesOf.push(model);
    return this.routes.length - 1;
  }

  /**
   * Records one answered request.
   *
   * @example
   * metrics.observe(id, 200, 0.0004);
   */
  observe(routeId: number, code: number, seconds: number): void {
    let s = this.lastSeries[routeId];
    if (s === undefined || s.code !== code) {
      const byCode = this.series[routeId]!;
      s = byCode.get(code);
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
      this.lastSeries[routeId] = s;
    }
    s.requests++;
    s.sum += seconds;
    const bounds = LATENCY_BUCKETS;
    const n = bounds.length;
    let bucket = 0;
    while (bucket < n && seconds > bounds[bucket]!) bucket++;
    if (bucket < n) s.buckets[bucket]!++;
    const m = this.modelSeriesOf[routeId];
    if (m !== undefined) {
      m.requests++;
      if (code >= 400) m.errors++;
      m.sum += seconds;
      // Its last bucket is +Inf: the p99 needs to know how many fell past the largest bound.
      m.buckets[bucket]!++;
    }
  }

  /** Counts rows predicted for a protocol. */
  predicted(protocol: string, rows: number): void {
    let counter = protocol === this.lastProtocol ? this.lastRows : undefined;
    if (counter === undefined) {
      counter = this.rows.get(protocol);
      if (counter === undefined) this.rows.set(protocol, (counter = { n: 0 }));
      this.lastProtocol = protocol;
      this.lastRows = counter;
    }
    counter.n += rows;
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
    for (const s of all) histogramLines(out, 'mlops_serving_request_duration_seconds', s);
    head('mlops_serving_prediction_rows_total', 'counter', 'Rows predicted, by protocol.');
    for (const [protocol, { n }] of this.rows) {
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
    this.renderModelSeries(head, out);
    return out.join('\n') + '\n';
  }

  private renderModelSeries(head: (name: string, type: string, help: string) => void, out: string[]): void {
    const all = [...this.modelSeries.values()];
    head('mlops_model_requests_total', 'counter', 'Prediction requests answered, by model, version and protocol.');
    for (const m of all) out.push(`mlops_model_requests_total{${m.labels}} ${m.requests}`);
    head('mlops_model_errors_total', 'counter', 'Prediction requests answered with an HTTP status of 400 or more.');
    for (const m of all) out.push(`mlops_model_errors_total{${m.labels}} ${m.errors}`);
    head('mlops_model_request_duration_seconds', 'histogram', 'Prediction request time, in seconds.');
    for (const m of all) histogramLines(out, 'mlops_model_request_duration_seconds', m);
    head(
      'mlops_model_latency_p99_seconds',
      'gauge',
      `p99 prediction request time over the last ${P99_WINDOW_MS / 1000} s (absent when no request in it).`,
    );
    const now = this.now();
    for (const m of all) {
      const p99 = windowQuantile(m, now, 0.99);
      if (p99 !== undefined) out.push(`mlops_model_latency_p99_seconds{${m.labels}} ${p99}`);
    }
  }
}

/** A histogram's sample lines (the bucket counts are per bucket; exposition wants them cumulative). */
function histogramLines(
  out: string[],
  name: string,
  s: { readonly labels: string; readonly buckets: Float64Array; readonly requests: number; readonly sum: number },
): void {
  let cumulative = 0;
  LATENCY_BUCKETS.forEach((le, i) => {
    cumulative += s.buckets[i]!;
    out.push(`${name}_bucket{${s.labels},le="${le}"} ${cumulative}`);
  });
  out.push(`${name}_bucket{${s.labels},le="+Inf"} ${s.requests}`);
  out.push(`${name}_sum{${s.labels}} ${s.sum}`);
  out.push(`${name}_count{${s.labels}} ${s.requests}`);
}

/**
 * The q-quantile of the requests since the newest snapshot at least {@link P99_WINDOW_MS} old
 * (the oldest one before the server has run that long), interpolated inside its bucket the way
 * PromQL's `histogram_quantile` does; then keeps a snapshot of now for later windows.
 */
function windowQuantile(m: ModelSeries, now: number, q: number): number | undefined {
  const snaps = m.snapshots;
  let base = 0;
  while (base + 1 < snaps.length && snaps[base + 1]!.t <= now - P99_WINDOW_MS) base++;
  snaps.splice(0, base);
  const from = snaps[0]!.buckets;
  const delta = m.buckets.map((n, i) => n - from[i]!);
  if (now - snaps[snaps.length - 1]!.t >= SNAPSHOT_EVERY_MS) snaps.push({ t: now, buckets: m.buckets.slice() });
  let total = 0;
  for (const n of delta) total += n;
  if (total === 0) return undefined;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < delta.length; i++) {
    const before = cumulative;
    cumulative += delta[i]!;
    if (cumulative < rank) continue;
    // Past the largest bound: that bound is the best estimate (as histogram_quantile answers).
    if (i === LATENCY_BUCKETS.length) return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1]!;
    const lower = i === 0 ? 0 : LATENCY_BUCKETS[i - 1]!;
    const upper = LATENCY_BUCKETS[i]!;
    return lower + ((upper - lower) * (rank - before)) / delta[i]!;
  }
  return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1]!;
}

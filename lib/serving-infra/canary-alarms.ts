/**
 * The alarms that judge one canary: created by the deployer when a version starts serving as a
 * canary, read at the end of its window, deleted when it is promoted or rolled back. They watch
 * the per-version serving metrics the model pods publish (`SERVING_METRICS` in namespace
 * `METRIC_NAMESPACES.serving`, dimensions Model and ModelVersion), so a canary is judged by its
 * own requests only: two models rolling out at once no longer share (and trip) one stage-wide
 * alarm.
 *
 * Why the deployer and not the template: the versions are known only when the registry promotes
 * one, and an alarm cannot search for its metric. An alarm per model in the template would still
 * mix the stable version's errors into the canary's and need a stack update per new model.
 *
 * | alarm                         | metric                                         | trips when                 |
 * |-------------------------------|------------------------------------------------|----------------------------|
 * | `<prefix><deployment>-v<n>-errors`  | Errors / Requests (Sum, per minute)      | > errorRate, 2 of 3 minutes |
 * | `<prefix><deployment>-v<n>-latency` | LatencyP99 (Maximum over pods, seconds)  | > latencyP99Seconds, 2 of 3 |
 *
 * The shapes below are CloudWatch's `PutMetricAlarm` input, written out as plain data so this
 * core needs no SDK; the adapter (`lib/adapters/cloudwatch/alarms.ts`) passes them through.
 *
 * @example
 * const alarms = canaryAlarmSpecs({ prefix: 'mlops-kit-staging-canary-', model: 'wine-quality', deployment: 'wine-quality', version: '6' }, thresholds);
 * await port.put(alarms);
 */
import { METRIC_NAMESPACES, SERVING_METRICS } from '../shared/operations';

/** What the canary alarms trip on. */
export interface CanaryThresholds {
  /** Share (0–1) of the canary's own prediction requests that failed. */
  readonly errorRate: number;
  /** The canary's p99 prediction latency, in seconds. */
  readonly latencyP99Seconds: number;
}

/** The default thresholds: 5 % of the canary's requests failing, or p99 above 1 s. */
export const DEFAULT_CANARY_THRESHOLDS: CanaryThresholds = { errorRate: 0.05, latencyP99Seconds: 1 };

export interface MetricStatSpec {
  readonly Metric: {
    readonly Namespace: string;
    readonly MetricName: string;
    readonly Dimensions: readonly { readonly Name: string; readonly Value: string }[];
  };
  readonly Period: number;
  readonly Stat: string;
}

/** A `PutMetricAlarm` input (the fields the kit sets). */
export interface MetricAlarmSpec {
  readonly AlarmName: string;
  readonly AlarmDescription: string;
  readonly ComparisonOperator: 'GreaterThanThreshold';
  readonly Threshold: number;
  readonly EvaluationPeriods: number;
  readonly DatapointsToAlarm: number;
  readonly TreatMissingData: 'notBreaching';
  readonly Metrics: readonly {
    readonly Id: string;
    readonly Expression?: string;
    readonly MetricStat?: MetricStatSpec;
    readonly ReturnData: boolean;
    readonly Label?: string;
  }[];
}

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** CloudWatch as the deployer sees it. */
export interface CanaryAlarmsPort {
  /** Creates or replaces the alarms (PutMetricAlarm is an upsert). */
  put(alarms: readonly MetricAlarmSpec[]): Promise<void>;
  /** The state of each alarm named; a name with no alarm is absent from the result. */
  states(names: readonly string[]): Promise<Readonly<Record<string, AlarmState>>>;
  /** Deletes the alarms; names with no alarm are ignored. */
  delete(names: readonly string[]): Promise<void>;
}

/** The canary whose alarms these are. */
export interface CanaryIdentity {
  /** Alarm-name prefix of this environment (`CANARY_ALARM_PREFIX`); the deployer's IAM allows only it. */
  readonly prefix: string;
  /** The registered model name: the `Model` dimension. */
  readonly model: string;
  /** The Kubernetes deployment name: part of the alarm names. */
  readonly deployment: string;
  /** The canary version: the `ModelVersion` dimension. */
  readonly version: string;
}

const PERIOD_SECONDS = 60;

/** The names of a canary's alarms (deterministic: the check and the clean-up recompute them). */
export function canaryAlarmNames(c: Omit<CanaryIdentity, 'model'>): string[] {
  const base = `${c.prefix}${c.deployment}-v${c.version}`;
  return [`${base}-errors`, `${base}-latency`];
}

/** The canary's alarms as `PutMetricAlarm` inputs. */
export function canaryAlarmSpecs(c: CanaryIdentity, t: CanaryThresholds = DEFAULT_CANARY_THRESHOLDS): MetricAlarmSpec[] {
  const [errorsName, latencyName] = canaryAlarmNames(c);
  const stat = (metric: string, s: string): MetricStatSpec => ({
    Metric: {
      Namespace: METRIC_NAMESPACES.serving,
      MetricName: metric,
      Dimensions: [
        { Name: 'Model', Value: c.model },
        { Name: 'ModelVersion', Value: c.version },
      ],
    },
    Period: PERIOD_SECONDS,
    Stat: s,
  });
  const common = {
    ComparisonOperator: 'GreaterThanThreshold',
    EvaluationPeriods: 3,
    DatapointsToAlarm: 2,
    // No traffic to the canary in a minute is no evidence against it.
    TreatMissingData: 'notBreaching',
  } as const;
  return [
    {
      ...common,
      AlarmName: errorsName!,
      AlarmDescription: `Canary ${c.model} v${c.version}: more than ${(t.errorRate * 100).toFixed(1)} % of its prediction requests failed`,
      Threshold: t.errorRate,
      Metrics: [
        { Id: 'errors', MetricStat: stat(SERVING_METRICS.errors, 'Sum'), ReturnData: false },
        { Id: 'requests', MetricStat: stat(SERVING_METRICS.requests, 'Sum'), ReturnData: false },
        // IF keeps a minute without requests from dividing by zero.
        { Id: 'rate', Expression: 'IF(requests > 0, errors / requests, 0)', Label: 'ErrorRate', ReturnData: true },
      ],
    },
    {
      ...common,
      AlarmName: latencyName!,
      AlarmDescription: `Canary ${c.model} v${c.version}: p99 prediction latency above ${t.latencyP99Seconds} s`,
      Threshold: t.latencyP99Seconds,
      Metrics: [{ Id: 'p99', MetricStat: stat(SERVING_METRICS.latencyP99, 'Maximum'), ReturnData: true }],
    },
  ];
}

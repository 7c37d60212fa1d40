/**
 * The deployer's {@link CanaryAlarmsPort} on CloudWatch: `PutMetricAlarm` per alarm,
 * `DescribeAlarms` by name, `DeleteAlarms`. The specs are already `PutMetricAlarm` inputs.
 *
 * @example
 * const alarms = cloudWatchCanaryAlarms(cloudWatchClient(env));
 */
import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  type MetricDataQuery,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import type { AlarmState, CanaryAlarmsPort, MetricAlarmSpec } from '../../serving-infra/canary-alarms';

/** DescribeAlarms and DeleteAlarms take at most 100 names per call. */
const MAX_NAMES = 100;

export function cloudWatchCanaryAlarms(client: CloudWatchClient): CanaryAlarmsPort {
  return {
    async put(alarms: readonly MetricAlarmSpec[]) {
      for (const a of alarms) {
        await client.send(
          new PutMetricAlarmCommand({ ...a, Metrics: a.Metrics as MetricDataQuery[] }),
        );
      }
    },
    async states(names: readonly string[]) {
      const out: Record<string, AlarmState> = {};
      for (let i = 0; i < names.length; i += MAX_NAMES) {
        const page = await client.send(
          new DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + MAX_NAMES), AlarmTypes: ['MetricAlarm'] }),
        );
        for (const a of page.MetricAlarms ?? []) {
          if (a.AlarmName !== undefined && a.StateValue !== undefined) out[a.AlarmName] = a.StateValue;
        }
      }
      return out;
    },
    async delete(names: readonly string[]) {
      for (let i = 0; i < names.length; i += MAX_NAMES) {
        await client.send(new DeleteAlarmsCommand({ AlarmNames: names.slice(i, i + MAX_NAMES) }));
      }
    },
  };
}

/**
 * The deployer's CloudWatch adapter: the commands it sends for put, states and delete, seen at the
 * SDK client's edge (an initialize middleware answers instead of the network: CloudWatch has no
 * local engine), and how it reads their answers.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import { cloudWatchCanaryAlarms } from '../../lib/adapters/cloudwatch/canary-alarms';
import { canaryAlarmSpecs } from '../../lib/serving-infra/canary-alarms';

function recordingClient(answer: (name: string, input: any) => unknown) {
  const client = new CloudWatchClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const sent: [string, any][] = [];
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      sent.push([context.commandName!, args.input]);
      return { output: answer(context.commandName!, args.input) as any, response: {} };
    },
    { step: 'initialize', name: 'answer' },
  );
  return { client, sent };
}

describe('cloudWatchCanaryAlarms', () => {
  it('puts each alarm as PutMetricAlarm, reads states by name (100 per call), deletes by name', async () => {
    const names = Array.from({ length: 150 }, (_, i) => `p-d-v${i}-errors`);
    const { client, sent } = recordingClient((name, input) =>
      name === 'DescribeAlarmsCommand'
        ? { MetricAlarms: input.AlarmNames.slice(0, 2).map((n: string, i: number) => ({ AlarmName: n, StateValue: i ? 'ALARM' : 'OK' })) }
        : {},
    );
    const port = cloudWatchCanaryAlarms(client);
    const specs = canaryAlarmSpecs({ prefix: 'p-', model: 'm', deployment: 'd', version: '2' });
    await port.put(specs);
    const states = await port.states(names);
    await port.delete(names);

    expect(sent.map(([n, i]) => [n, i.AlarmName ?? i.AlarmNames?.length])).toEqual([
      ['PutMetricAlarmCommand', 'p-d-v2-errors'],
      ['PutMetricAlarmCommand', 'p-d-v2-latency'],
      ['DescribeAlarmsCommand', 100],
      ['DescribeAlarmsCommand', 50],
      ['DeleteAlarmsCommand', 100],
      ['DeleteAlarmsCommand', 50],
    ]);
    expect(sent[0]![1].Metrics.map((m: { Id: string }) => m.Id)).toEqual(['errors', 'requests', 'rate']);
    expect(sent[2]![1].AlarmTypes).toEqual(['MetricAlarm']);
    expect(states).toEqual({ 'p-d-v0-errors': 'OK', 'p-d-v1-errors': 'ALARM', 'p-d-v100-errors': 'OK', 'p-d-v101-errors': 'ALARM' });
  });
});

import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES } from '../../lib/config';
import { allowStatements } from '../stack-synth';
import { synthAll } from './synth';

describe.each(ENVIRONMENT_NAMES)('IAM in %s', (name) => {
  const { templates } = synthAll()[name];

  it('grants no "*" or "service:*" action anywhere', () => {
    const broad: string[] = [];
    let count = 0;
    for (const [stack, t] of Object.entries(templates)) {
      for (const s of allowStatements(t.toJSON())) {
        count++;
        for (const a of s.actions)
          if (a === '*' || /^[a-z0-9-]+:\*$/i.test(a)) broad.push(`${stack} ${s.where}: ${a}`);
      }
    }
    expect(count, 'the stacks have IAM statements to check').toBeGreaterThan(0);
    expect(broad).toEqual([]);
  });

  // Invoking a function runs its code with its role (the kubectl provider's runs any kubectl/helm
  // command): every invoke grant names its functions.
  it('fails if any statement may invoke every function (lambda:InvokeFunction on "*" or function:*)', () => {
    const wide: string[] = [];
    for (const [stack, t] of Object.entries(templates)) {
      for (const s of allowStatements(t.toJSON())) {
        if (!s.actions.some((a) => /^lambda:Invoke/.test(a))) continue;
        for (const r of s.resources) {
          const text = typeof r === 'string' ? r : JSON.stringify(r);
          if (r === '*' || /function[:/]\*/.test(text)) wide.push(`${stack} ${s.where}: ${text}`);
        }
      }
    }
    expect(wide).toEqual([]);
  });

  // Resource "*" is acknowledged for services without resource-level permissions; keep it to them.
  it('uses Resource "*" only for actions that allow nothing narrower', () => {
    const allowed = [
      /^xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets)$/,
      /^logs:(CreateLogDelivery|GetLogDelivery|UpdateLogDelivery|DeleteLogDelivery|ListLogDeliveries|PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$/,
      /^kms:/, // key policies: Resource "*" means "this key"
      // SageMaker training: ECR login and metric publishing have no resource-level permissions
      // (PutMetricData is conditioned to the SageMaker namespace in the template).
      /^ecr:GetAuthorizationToken$/,
      /^cloudwatch:PutMetricData$/,
      // The load balancer controller's read-only discovery calls.
      /^ec2:Describe[A-Za-z]*$/,
      /^elasticloadbalancing:Describe[A-Za-z]*$/,
      // The cluster autoscaler's discovery (lib/constructs/node-autoscaler.ts).
      /^autoscaling:Describe[A-Za-z]*$/,
      /^ec2:GetInstanceTypesFromInstanceRequirements$/,
      // KEDA's CloudWatch scaler reads the model servers' request counts (lib/constructs/request-autoscaler.ts).
      /^cloudwatch:GetMetricData$/,
    ];
    const wide: string[] = [];
    for (const [stack, t] of Object.entries(templates)) {
      for (const s of allowStatements(t.toJSON())) {
        if (!s.resources.includes('*')) continue;
        for (const a of s.actions)
          if (!allowed.some((re) => re.test(a))) wide.push(`${stack} ${s.where}: ${a}`);
      }
    }
    expect(wide).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES } from '../../lib/config';
import { synthAll } from './synth';

/** Every Allow statement in every IAM policy (inline, managed, role and resource policies). */
function allowStatements(
  template: Record<string, any>,
): { where: string; actions: string[]; resources: unknown[] }[] {
  const found: { where: string; actions: string[]; resources: unknown[] }[] = [];
  const visit = (node: unknown, where: string) => {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) visit(n, `${where}[${i}]`);
    } else if (node && typeof node === 'object') {
      const obj = node as Record<string, unknown>;
      if (obj['Effect'] === 'Allow' && obj['Action'] !== undefined) {
        const actions = ([] as unknown[]).concat(obj['Action']).map(String);
        found.push({ where, actions, resources: ([] as unknown[]).concat(obj['Resource']) });
      }
      for (const [k, v] of Object.entries(obj)) visit(v, `${where}.${k}`);
    }
  };
  visit(template['Resources'], 'Resources');
  return found;
}

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

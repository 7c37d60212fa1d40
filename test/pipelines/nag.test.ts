import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { nagPacksFor } from '../../lib/constructs/nag';
import { synthPipelines } from './synth';

const environments = synthPipelines();

describe.each(ENVIRONMENT_NAMES)('cdk-nag on the pipeline stacks in %s', (name) => {
  const { training, batch } = environments[name];
  const packs = nagPacksFor(resolveEnvironment(name, { env: {} }));

  it.each(
    packs.flatMap(
      (pack) =>
        [
          [pack.readPackName, 'TrainingPipeline', pack, training],
          [pack.readPackName, 'BatchInference', pack, batch],
        ] as const,
    ),
  )('has zero unacknowledged %s findings in %s', (_, _stack, pack, stack) => {
    const report = pack.validateScope(stack);
    const findings = report.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath ?? r.resourceLogicalId}`),
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('acknowledges findings only on specific constructs, each with a specific reason', () => {
    const acks: { path: string; id: string; reason: string; scope: IConstruct }[] = [];
    for (const stack of [training, batch]) {
      for (const c of stack.node.findAll()) {
        for (const entry of c.node.metadata) {
          if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
          for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
            acks.push({ path: c.node.path, id, reason, scope: c });
          }
        }
      }
    }
    expect(acks.length, 'the house constructs acknowledge their known findings').toBeGreaterThan(0);
    for (const ack of acks) {
      expect(Stack.isStack(ack.scope), `${ack.id} acknowledged on a whole stack (${ack.path})`).toBe(false);
      expect(ack.reason.length, `${ack.id} at ${ack.path} needs a specific reason`).toBeGreaterThanOrEqual(
        60,
      );
    }
  });
});

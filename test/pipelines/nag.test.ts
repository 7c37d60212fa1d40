import { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { nagPacksFor } from '../../lib/constructs/nag';
import { synthPipelines } from './synth';
import { acknowledgementsIn, expectNoUnacknowledgedFindings } from '../stack-synth';

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
    expectNoUnacknowledgedFindings(pack.validateScope(stack));
  });

  it('acknowledges findings only on specific constructs, each with a specific reason', () => {
    const acks = [training, batch].flatMap((stack) => acknowledgementsIn(stack));
    expect(acks.length, 'the house constructs acknowledge their known findings').toBeGreaterThan(0);
    for (const ack of acks) {
      expect(Stack.isStack(ack.scope), `${ack.id} acknowledged on a whole stack (${ack.path})`).toBe(false);
      expect(ack.reason.length, `${ack.id} at ${ack.path} needs a specific reason`).toBeGreaterThanOrEqual(
        60,
      );
    }
  });
});

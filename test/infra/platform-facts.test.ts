/**
 * Platform facts as the stacks declare them: construct metadata in the assembly's manifest (the
 * templates do not change), tokens resolved to `Ref`s of the declaring stack, and the promotion
 * pattern rendered exactly as the `AWS::Events::Rule` built from the same pattern renders it.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import {
  declareLakeBuckets,
  declareServing,
  declareStateMachine,
  FACT_METADATA_TYPE,
} from '../../lib/constructs/platform-facts';
import { promotionEventPattern } from '../../lib/constructs/canary-rollout';

function factsOf(stack: Stack): { path: string; data: Record<string, unknown> }[] {
  const artifact = App.of(stack)!.synth().getStackArtifact(stack.artifactId);
  return artifact
    .findMetadataByType(FACT_METADATA_TYPE)
    .map((e) => ({ path: e.path, data: e.data as unknown as Record<string, unknown> }));
}

describe('platform facts', () => {
  it("render the promotion pattern as the promotion rule's EventPattern", () => {
    // prepare: the rule the serving stack builds and the fact, from one pattern
    const stack = new Stack(new App(), 'S');
    const bus = new events.EventBus(stack, 'Bus');
    new events.Rule(stack, 'OnPromotion', { eventBus: bus, eventPattern: promotionEventPattern() });
    declareServing(bus, { namespace: 'seldon', routes: ['/v2/{proxy+}'], promotion: promotionEventPattern() });
    // act
    const rule = Object.values(Template.fromStack(stack).findResources('AWS::Events::Rule'))[0]!;
    const [fact] = factsOf(stack);
    // assess
    expect(fact!.data['promotionEventPattern']).toEqual(rule['Properties'].EventPattern);
    expect(fact!.data['promotionEventPattern']).toHaveProperty('detail-type');
    expect(fact).toMatchObject({
      path: '/S/Bus',
      data: { fact: 'serving', namespace: 'seldon', routes: ['/v2/{proxy+}'], eventBusName: { Ref: expect.any(String) } },
    });
  });

  it('name their resources with Refs of the declaring stack, and leave the template alone', () => {
    // prepare: the same stack twice, facts declared in one
    const build = (declare: boolean) => {
      const stack = new Stack(new App(), 'S');
      const holder = new sfn.StateMachine(stack, 'M', {
        definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'P')),
      });
      const bucket = (id: string) => new s3.Bucket(stack, id);
      const lake = { raw: bucket('Raw'), curated: bucket('Curated'), artifacts: bucket('Artifacts'), athenaResults: bucket('Results') };
      if (declare) {
        // act
        declareStateMachine(Object.assign(holder, { stateMachine: holder }), 'training', {
          defaultInput: { model_name: 'm' },
          states: { register: 'Register model' },
        });
        declareLakeBuckets(lake);
      }
      return { stack, holder, lake };
    };
    const { stack, holder, lake } = build(true);
    const facts = factsOf(stack);
    // assess
    expect(Template.fromStack(stack).toJSON()).toEqual(Template.fromStack(build(false).stack).toJSON());
    const ref = (c: { node: { defaultChild?: unknown } }) => ({ Ref: stack.getLogicalId(c.node.defaultChild as s3.CfnBucket) });
    expect(facts.map((f) => f.data)).toEqual([
      { fact: 'stateMachine', role: 'training', arn: ref(holder), defaultInput: { model_name: 'm' }, states: { register: 'Register model' } },
      { fact: 'bucket', role: 'raw', name: ref(lake.raw) },
      { fact: 'bucket', role: 'curated', name: ref(lake.curated) },
      { fact: 'bucket', role: 'artifacts', name: ref(lake.artifacts) },
      { fact: 'bucket', role: 'athenaResults', name: ref(lake.athenaResults) },
    ]);
  });
});

/**
 * The role EventBridge Scheduler assumes to start a workflow: trusted by the scheduler service of
 * this account only (`aws:SourceAccount`, against the confused deputy); the target grants it what
 * it starts.
 *
 * @example
 * const role = new SchedulerRole(this, 'ScheduleRole', { description: 'Starts the training pipeline' });
 * machine.grantStartExecution(role);
 */
import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';

export interface SchedulerRoleProps {
  /** What the schedule starts, shown in the console. */
  readonly description: string;
}

export class SchedulerRole extends iam.Role {
  constructor(scope: Construct, id: string, props: SchedulerRoleProps) {
    if (props.description.trim() === '') {
      throw new Error('a scheduler role description must say what it starts, but an empty one was provided');
    }
    super(scope, id, {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
      }),
      description: props.description,
    });
    Validations.of(this).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
  }
}

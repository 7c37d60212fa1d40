/**
 * A role whose only permission is calling one kit API (`execute-api:Invoke` on its stage, or on the
 * methods and paths given), with sessions of an hour.
 *
 * @example
 * new ApiCallerRole(this, 'DataScientistRole', { api, assumedBy: mfaPrincipal, description: 'People who browse models' });
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { InvokeGrant, MlopsApi } from './mlops-api';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';

export interface ApiCallerRoleProps {
  /** The API the role may call. */
  readonly api: MlopsApi;
  /**
   * What of the API the role may call.
   * @default - every route
   */
  readonly invoke?: InvokeGrant;
  readonly assumedBy: iam.IPrincipal;
  /** Who assumes the role and why, shown in the console. */
  readonly description: string;
}

export class ApiCallerRole extends iam.Role {
  constructor(scope: Construct, id: string, props: ApiCallerRoleProps) {
    if (props.description.trim() === '') {
      throw new Error('an API caller role description must say who calls, but an empty one was provided');
    }
    super(scope, id, {
      assumedBy: props.assumedBy,
      description: props.description,
      maxSessionDuration: Duration.hours(1),
    });
    props.api.grantInvoke(this, props.invoke);
    Validations.of(this).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
  }
}

/**
 * A customer-managed KMS key of the lake: rotated yearly, with a key policy that lists the
 * actions the account (and through it, IAM policies) may use instead of the default `kms:*`, so no
 * statement in the kit grants a whole service. Grants to functions and roles come from IAM
 * policies, through the service that uses the key (`kms:ViaService`, see `./binding`).
 *
 * @example
 * const key = new LakeKey(this, 'Key', { description: 'mlops-kit staging data lake key', removalPolicy });
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

export interface LakeKeyProps {
  /** Shown in the console. */
  readonly description: string;
  /**
   * RETAIN keeps the key (and so the data it encrypts readable) when the stack goes; the pending
   * window before deletion is 30 days then, 7 otherwise.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class LakeKey extends kms.Key {
  constructor(scope: Construct, id: string, props: LakeKeyProps) {
    if (props.description.trim() === '') {
      throw new Error('a lake key description must say what the key encrypts, but an empty one was provided');
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    super(scope, id, {
      description: props.description,
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: removalPolicy === RemovalPolicy.RETAIN ? Duration.days(30) : Duration.days(7),
      policy: accountKeyPolicy(),
    });
  }
}

/**
 * The key policy: the account (and through it, IAM policies) may administer and use the key, with
 * the actions listed instead of the default `kms:*`.
 */
export function accountKeyPolicy(): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'AccountAdministersAndUsesKeyThroughIam',
        principals: [new iam.AccountRootPrincipal()],
        actions: [
          'kms:Create*',
          'kms:Describe*',
          'kms:Enable*',
          'kms:List*',
          'kms:Put*',
          'kms:Update*',
          'kms:Revoke*',
          'kms:Disable*',
          'kms:Get*',
          'kms:Delete*',
          'kms:TagResource',
          'kms:UntagResource',
          'kms:ScheduleKeyDeletion',
          'kms:CancelKeyDeletion',
          'kms:RotateKeyOnDemand',
          'kms:Encrypt',
          'kms:Decrypt',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
        ],
        resources: ['*'],
      }),
    ],
  });
}

/**
 * Where an environment's alarms go: an SNS topic encrypted with the operations key, TLS only, with
 * the e-mail subscription of `alarms.email` (SNS is also the hook for chat tools: subscribe AWS
 * Chatbot or a webhook to it). CloudWatch alarms and EventBridge rules publish to it as their
 * services, so the key lets `cloudwatch.amazonaws.com` and `events.amazonaws.com` of this account
 * encrypt for it (a KMS-encrypted topic otherwise drops their messages silently).
 *
 * @example
 * const topic = new AlarmTopic(this, 'Topic', { environmentName: 'staging', key, email: 'ops@example.com' });
 * alarm.addAlarmAction(new cwActions.SnsAction(topic));
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { PropsError } from './validate-props';

export interface AlarmTopicProps {
  /** Names the environment in the topic's display name (the e-mail sender). */
  readonly environmentName: string;
  /** Encrypts the messages; service principals that publish get a statement in its key policy. */
  readonly key: kms.Key;
  /**
   * Subscribed by e-mail (the address confirms once).
   * @default - no subscriber
   */
  readonly email?: string;
}

/** The services that publish alarms and events to the topic as themselves. */
export const ALARM_PUBLISHERS = ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] as const;

export class AlarmTopic extends sns.Topic {
  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    if (props.email !== undefined && !/^[^@\s]+@[^@\s]+$/.test(props.email)) {
      throw new PropsError(`AlarmTopic email must be an e-mail address, but '${props.email}' was provided`);
    }
    super(scope, id, { displayName: `mlops-kit ${props.environmentName} alarms`, masterKey: props.key, enforceSSL: true });
    const account = Stack.of(scope).account;
    // CloudWatch's documented key statement for alarm actions has no condition (it does not say it
    // sets aws:SourceAccount on the KMS call, and a missing key grant drops alarms silently); the
    // topic policy below still admits only this account's alarms. EventBridge documents SourceAccount.
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsEncryptForTheTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
      }),
    );
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeOfThisAccountEncrypts',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
    );
    for (const principal of ALARM_PUBLISHERS) {
      this.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `${principal.split('.')[0]}Publishes`,
          principals: [new iam.ServicePrincipal(principal)],
          actions: ['sns:Publish'],
          resources: [this.topicArn],
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
      );
    }
    if (props.email) this.addSubscription(new subscriptions.EmailSubscription(props.email));
  }
}

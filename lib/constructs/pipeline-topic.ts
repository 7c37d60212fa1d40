/**
 * Where a pipeline publishes every outcome: an SNS topic encrypted with the lake key, TLS only,
 * and the "Notify …" steps that publish `$.notice` to it.
 *
 * @example
 * const topic = new PipelineTopic(this, 'Notifications', { displayName: 'mlops-kit staging training', key: lake.key });
 * recordFailure.next(topic.notify(this, 'Notify failure', 'failed'));
 * topic.grantPublishEncrypted(machine.stateMachine.role);
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { grantKeyVia } from './binding';
import { SNS_TRANSIENT_ERRORS, transientRetry } from './retries';

export interface PipelineTopicProps {
  /** Shown in e-mail notifications' sender name. */
  readonly displayName: string;
  /** Encrypts the messages (the lake key). */
  readonly key: kms.IKey;
}

export class PipelineTopic extends sns.Topic {
  private readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: PipelineTopicProps) {
    super(scope, id, { displayName: props.displayName, masterKey: props.key, enforceSSL: true });
    this.key = props.key;
  }

  /** A step that publishes `$.notice` as JSON, with the outcome in the subject. */
  notify(scope: Construct, name: string, outcome: string): tasks.SnsPublish {
    const task = new tasks.SnsPublish(scope, name, {
      topic: this,
      subject: `mlops-kit training: ${outcome}`,
      message: sfn.TaskInput.fromJsonPathAt('States.JsonToString($.notice)'),
      resultPath: sfn.JsonPath.DISCARD,
      taskTimeout: sfn.Timeout.duration(Duration.seconds(30)),
    });
    task.addRetry(transientRetry(SNS_TRANSIENT_ERRORS));
    return task;
  }

  /** `sns:Publish` on the topic, and its key only through SNS (CDK's grantPublish has no ViaService). */
  grantPublishEncrypted(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topicArn] }),
    );
    grantKeyVia(grantee, this.key.keyArn, ['kms:GenerateDataKey', 'kms:Decrypt'], 'sns');
  }
}

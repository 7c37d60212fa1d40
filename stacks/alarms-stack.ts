/**
 * The environment's alarm topic and the key of its operations data (the topic, the dead-letter
 * queues). The first stack of a stage: every other stack's alarms and dead-letter queues refer to
 * it, and it refers to none, so no dependency cycle can form however the others grow.
 *
 * The key is its own `LakeKey`, not the lake's: CloudWatch and EventBridge must be able to use it
 * as services (to publish alarms and dead letters), and that grant stays off the key that
 * encrypts the data.
 *
 * @example
 * const alarms = new AlarmsStack(stage, 'Alarms', { config, house });
 * alarm.addAlarmAction(new SnsAction(alarms.topic));
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { AlarmTopic } from '../lib/constructs/alarm-topic';
import { type HouseDefaults, resolveHouseDefaults } from '../lib/constructs/house-defaults';
import { LakeKey } from '../lib/constructs/lake-key';

export interface AlarmsStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default resolveHouseDefaults(config)
   */
  readonly house?: HouseDefaults;
}

export class AlarmsStack extends Stack {
  /** Encrypts the alarm topic and the dead-letter queues. */
  readonly key: LakeKey;
  /** Every alarm's action (when `alarms.enabled`); `notify` retraining events go here too. */
  readonly topic: AlarmTopic;

  constructor(scope: Construct, id: string, props: AlarmsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const house = props.house ?? resolveHouseDefaults(config);
    this.key = new LakeKey(this, 'Key', {
      description: `mlops-kit ${config.name} operations key (alarm topic, dead-letter queues)`,
      removalPolicy: house.removalPolicy,
    });
    this.topic = new AlarmTopic(this, 'Topic', {
      environmentName: config.name,
      key: this.key,
      ...(config.alarms.email ? { email: config.alarms.email } : {}),
    });
    new CfnOutput(this, 'TopicArn', {
      value: this.topic.topicArn,
      description: 'Alarm topic: subscribe e-mail, chat or a pager to it',
    });
  }
}

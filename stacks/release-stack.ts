/**
 * Model releases of one environment: the `release` state machine (`ReleaseMachine`), which copies
 * a registered version from the environment named by `release.from` (staging for production)
 * and, where `release.to` names an environment, the role that environment's release machine
 * assumes to read this one's registry and artifacts.
 *
 * The release-source role has a fixed name (`releaseSourceRoleName`): the other account's
 * config must name it before either side is deployed, and one such role exists per environment
 * and account. It may only read: `GET` on the registry API and the `model.tar.gz` and
 * `baseline.json` objects of the artifacts zone (`MODEL_ARTIFACT_KEYS`, `BASELINE_KEYS`).
 *
 * @example
 * new ReleaseStack(stage, 'Release', { config, lake, house, registry });
 */
import { Aws, CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { type EnvironmentConfig, releasePromoterRoleName, releaseSourceRoleName } from '../lib/config';
import { BASELINE_KEYS, type DataLake, MODEL_ARTIFACT_KEYS } from '../lib/constructs/data-lake';
import { type HouseDefaults, houseFor } from '../lib/constructs/house-defaults';
import { acknowledgeFindingPrefix, complianceAcks, INLINE_POLICY_REASON } from '../lib/constructs/nag';
import { ReleaseMachine } from '../lib/constructs/release-machine';
import type { RegistryStack } from './registry-stack';

export interface ReleaseStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  /** This environment's registry: the machine registers there; a release-source role reads it. */
  readonly registry: RegistryStack;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default - resolved from `config`, log groups encrypted with the lake's logs key
   */
  readonly house?: HouseDefaults;
}

export class ReleaseStack extends Stack {
  readonly machine: ReleaseMachine;
  /** Present where `release.to` names an environment: the role its release machine assumes here. */
  readonly sourceRole?: iam.Role;

  constructor(scope: Construct, id: string, props: ReleaseStackProps) {
    super(scope, id, props);
    const { config, lake, registry } = props;
    const house = houseFor(config, lake.logsKey, props.house);
    const { from, fromAccount, to, toAccount } = config.release;
    this.machine = new ReleaseMachine(this, 'Release', {
      lake,
      house,
      // The only writer of stages: it registers, promotes after the approval, archives on rejection.
      registry: registry.endpointFor('read', 'write', 'promote'),
      registryAuth: config.api.auth,
      roleName: releasePromoterRoleName(config.name),
      sourceRoleArns: from && fromAccount ? [`arn:${Aws.PARTITION}:iam::${fromAccount}:role/${releaseSourceRoleName(from)}`] : [],
    });

    if (to && toAccount) {
      this.sourceRole = new iam.Role(this, 'SourceRole', {
        roleName: releaseSourceRoleName(config.name),
        assumedBy: new iam.AccountPrincipal(toAccount),
        description: `Assumed by the ${to} release machine to read models released from ${config.name}`,
      });
      // A policy of its own: the finding's id embeds the registry API's id (a cross-stack export).
      const readRegistry = new iam.Policy(this, 'ReadRegistry', {
        statements: [
          new iam.PolicyStatement({
            actions: ['execute-api:Invoke'],
            resources: [registry.api.api.arnForExecuteApi('GET', '/*', registry.api.api.deploymentStage.stageName)],
          }),
        ],
      });
      readRegistry.attachToRole(this.sourceRole);
      acknowledgeFindingPrefix(
        readRegistry,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:',
        "One statement: execute-api:Invoke for GET only on the registry API's stage, whose routes are greedy proxies ({proxy+}): a release reads a version, its run and a version search, all GET paths under api/2.0/mlflow/.",
      );
      Validations.of(readRegistry).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
      lake.artifacts.grantObjects(
        this.sourceRole,
        { readKeys: [...MODEL_ARTIFACT_KEYS, ...BASELINE_KEYS] },
        "a release reads the version's model.tar.gz and baseline.json wherever its source URI and baseline tag name them",
      );
    }

    const out = (name: string, value: string, description: string) => new CfnOutput(this, name, { value, description });
    out('ReleaseStateMachineArn', this.machine.stateMachine.stateMachineArn, 'The release state machine (mlops release starts it)');
    out('ReleaseTopicArn', this.machine.topic.topicArn, 'Approval requests of releases are published here');
    if (this.sourceRole) out('ReleaseSourceRoleArn', this.sourceRole.roleArn, `Role the ${to} release machine assumes to read this environment`);
  }
}

/**
 * Tag-based model releases: a CodePipeline V2 whose only trigger is a pushed git tag matching
 * `release/*`, and one CodeBuild action that reads the `release/<model>/<version>` tags at the
 * tagged commit (`bin/release-tag.ts`) and runs, for each,
 * `npx mlops release --model <m> --version <v> --from staging --to production`.
 *
 * The build reaches each environment as its release role (`mlops-<env>-release-trigger`, created by
 * `DeliveryAccess` in that account), through AWS profiles named after the environments, so the
 * release CLI resolves every environment with the ordinary credential chain.
 *
 * @example
 * new ReleaseTrigger(this, 'Releases', {
 *   connectionArn, repository: 'acme/mlops-kit',
 *   environments: { staging: { account: '222…', region: 'eu-west-1' }, production: { account: '333…', region: 'eu-west-1' } },
 *   logGroup,
 * });
 */
import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as actions from 'aws-cdk-lib/aws-codepipeline-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { deliveryRoleNames } from './delivery-access';
import { acknowledgePipelineGrants, DELIVERY_BUILD_IMAGE, DELIVERY_NODE_VERSION } from './delivery-pipeline';
import { PropsError } from './validate-props';

/** The tags that start a release (CodePipeline's glob). */
export const RELEASE_TAG_GLOB = 'release/*';

/** Where an environment is. */
export interface ReleaseEnvironment {
  readonly account: string;
  readonly region: string;
}

export interface ReleaseTriggerProps {
  readonly connectionArn: string;
  /** `owner/name`. */
  readonly repository: string;
  /** The environment releases are read from, and the one they go to, by name. */
  readonly environments: { readonly staging: ReleaseEnvironment; readonly production: ReleaseEnvironment };
  /** Where the build logs go. */
  readonly logGroup: logs.ILogGroup;
  /**
   * Encrypts the build's output and cache.
   * @default - the artifact bucket's key
   */
  readonly encryptionKey?: kms.IKey;
}

export class ReleaseTrigger extends Construct {
  readonly pipeline: codepipeline.Pipeline;
  readonly project: codebuild.PipelineProject;

  constructor(scope: Construct, id: string, props: ReleaseTriggerProps) {
    super(scope, id);
    const [owner, repo] = props.repository.split('/');
    if (!owner || !repo) {
      throw new PropsError(`ReleaseTrigger repository must be owner/name, but ${JSON.stringify(props.repository)} was provided`);
    }
    const source = new codepipeline.Artifact('Source');
    const sourceAction = new actions.CodeStarConnectionsSourceAction({
      actionName: 'Checkout',
      connectionArn: props.connectionArn,
      owner,
      repo,
      output: source,
      // A full clone: the build reads which release tags point at the commit.
      codeBuildCloneOutput: true,
    });
    const profiles = Object.entries(props.environments).flatMap(([name, env]) => {
      const roleArn = `arn:aws:iam::${env.account}:role/${deliveryRoleNames(name).releaseRole}`;
      return [
        `aws configure set profile.${name}.role_arn ${roleArn}`,
        `aws configure set profile.${name}.credential_source EcsContainer`,
        `aws configure set profile.${name}.region ${env.region}`,
      ];
    });
    this.project = new codebuild.PipelineProject(this, 'Release', {
      description: 'mlops-kit: release the model versions named by release/<model>/<version> tags from staging to production',
      environment: { buildImage: DELIVERY_BUILD_IMAGE },
      encryptionKey: props.encryptionKey,
      timeout: Duration.hours(2),
      logging: { cloudWatch: { logGroup: props.logGroup } },
      buildSpec: codebuild.BuildSpec.fromObject({
        version: '0.2',
        phases: {
          install: { 'runtime-versions': { nodejs: DELIVERY_NODE_VERSION }, commands: ['npm ci --no-audit --no-fund'] },
          build: { commands: [...profiles, 'node --import tsx bin/release-tag.ts --from staging --to production'] },
        },
      }),
    });
    this.project.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: Object.entries(props.environments).map(
          ([name, env]) => `arn:aws:iam::${env.account}:role/${deliveryRoleNames(name).releaseRole}`,
        ),
      }),
    );
    this.pipeline = new codepipeline.Pipeline(this, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      crossAccountKeys: true,
      enableKeyRotation: true,
      restartExecutionOnUpdate: false,
      stages: [
        { stageName: 'Source', actions: [sourceAction] },
        {
          stageName: 'Release',
          actions: [new actions.CodeBuildAction({ actionName: 'Release', project: this.project, input: source })],
        },
      ],
      triggers: [
        {
          providerType: codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
          gitConfiguration: { sourceAction, pushFilter: [{ tagsIncludes: [RELEASE_TAG_GLOB] }] },
        },
      ],
    });
    acknowledgePipelineGrants(this);
  }
}

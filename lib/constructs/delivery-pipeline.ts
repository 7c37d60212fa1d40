/**
 * The platform's delivery pipeline: CDK Pipelines on CodePipeline V2, self-mutating, source from a
 * CodeConnections connection, artifacts in a bucket encrypted with a customer-managed KMS key
 * (`crossAccountKeys`, what cross-account deployment needs anyway), and a synth step that runs the
 * same `.ci/run` as CI (its installs, `npm ci`, `npm test`) before `npx cdk synth`.
 *
 * ```
 * Source ─→ Build (.ci/run → cdk synth) ─→ UpdatePipeline (self-mutation) ─→ Assets
 *        ─→ mlops-staging (deploy, then checks) ─→ [approval] ─→ mlops-production (deploy, then checks)
 * ```
 *
 * Stages deploy through the target accounts' bootstrapped roles (`cdk bootstrap --trust <tooling>`);
 * checks that need the environment assume a role it grants the tooling account
 * ({@link environmentCheck}).
 *
 * @example
 * const pipeline = new DeliveryPipeline(this, 'Pipeline', {
 *   connectionArn, repository: 'acme/mlops-kit', branch: 'main', synthEnv: { MLOPS_STAGING_ACCOUNT: '…' },
 * });
 * pipeline.deploy(stagingStage, { post: [environmentCheck({ … })] });
 * pipeline.deploy(productionStage, { approval: 'PromoteToProduction', post: [ … ] });
 */
import { type CfnOutput, Duration, RemovalPolicy, Stack, type Stage, Validations } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as pipelines from 'aws-cdk-lib/pipelines';
import { Construct } from 'constructs';
import { acknowledgeFindingPrefix, complianceAcks } from './nag';
import { PropsError } from './validate-props';

/** The build image every step runs on; its Node is chosen in the install phase below. */
export const DELIVERY_BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0;
/** The project's engines ask for Node >= 20.19; the image's newest supported line. */
export const DELIVERY_NODE_VERSION = '22';

/** What the synth step runs: CI as `.ci/run` defines it (installs, `npm ci`, `npm test`), then synthesis. */
export const SYNTH_COMMANDS = ['.ci/run', 'npx cdk synth -c env=delivery'] as const;

export interface DeliveryPipelineProps {
  /** The CodeConnections connection to the repository's host. */
  readonly connectionArn: string;
  /** `owner/name`. */
  readonly repository: string;
  readonly branch: string;
  /**
   * Variables the synth step sets, so the pipeline re-synthesizes itself with the accounts it was
   * deployed with (`MLOPS_DELIVERY_ACCOUNT`, `MLOPS_STAGING_ACCOUNT`, …).
   * @default {}
   */
  readonly synthEnv?: Readonly<Record<string, string>>;
  /**
   * How long build logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
}

/** A post-deployment check: a CodeBuild step in the pipeline's defaults. */
export interface EnvironmentCheckProps {
  /** The step's name in the pipeline. */
  readonly name: string;
  /** The repository checkout the commands run in. */
  readonly input: pipelines.IFileSetProducer;
  /** The role in the environment the commands assume (as the AWS profile `profile`). */
  readonly roleArn: string;
  /** The AWS profile name the commands use for that role. */
  readonly profile: string;
  /** Stack outputs the commands read, as variables. */
  readonly envFromCfnOutputs?: Record<string, CfnOutput>;
  /** The commands, run after `npm ci` with the profile configured. */
  readonly commands: readonly string[];
  /** The region the environment is in. */
  readonly region: string;
}

/**
 * A check that runs in the tooling account as the environment's role: the AWS CLI writes a profile
 * that assumes `roleArn` from the CodeBuild container's credentials, and the commands run with it
 * (`AWS_PROFILE`), as a developer runs them with their own profile.
 */
export function environmentCheck(props: EnvironmentCheckProps): pipelines.CodeBuildStep {
  return new pipelines.CodeBuildStep(props.name, {
    input: props.input,
    envFromCfnOutputs: props.envFromCfnOutputs,
    env: { AWS_REGION: props.region },
    commands: [
      // The profile exists before anything selects it (a buildspec's commands share one shell).
      `aws configure set profile.${props.profile}.role_arn ${props.roleArn}`,
      `aws configure set profile.${props.profile}.credential_source EcsContainer`,
      `aws configure set profile.${props.profile}.region ${props.region}`,
      `export AWS_PROFILE=${props.profile}`,
      'npm ci --no-audit --no-fund',
      ...props.commands,
    ],
    rolePolicyStatements: [new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [props.roleArn] })],
    timeout: Duration.minutes(60),
  });
}

export interface DeployOptions {
  /** A manual approval, with this name, before the stage deploys. @default - none */
  readonly approval?: string;
  /** Checks after the stage deployed. @default - none */
  readonly post?: readonly pipelines.Step[];
}

export class DeliveryPipeline extends Construct {
  readonly pipeline: pipelines.CodePipeline;
  readonly source: pipelines.CodePipelineSource;
  /** The synth step (its buildspec: `.ci/run`, then `cdk synth`). */
  readonly synth: pipelines.CodeBuildStep;
  /** Encrypts the build logs. */
  readonly logsKey: kms.Key;
  /** Every build's log. */
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: DeliveryPipelineProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(props.repository)) {
      throw new PropsError(`DeliveryPipeline repository must be owner/name, but ${JSON.stringify(props.repository)} was provided`);
    }
    this.source = pipelines.CodePipelineSource.connection(props.repository, props.branch, {
      connectionArn: props.connectionArn,
    });
    this.synth = new pipelines.CodeBuildStep('Synth', {
      input: this.source,
      env: { ...props.synthEnv },
      commands: [...SYNTH_COMMANDS],
      primaryOutputDirectory: 'cdk.out',
      // npm test runs about 2,000 tests, local platforms and CDK syntheses among them: CPU-bound, so more cores.
      buildEnvironment: { computeType: codebuild.ComputeType.LARGE },
      timeout: Duration.minutes(60),
    });
    this.logsKey = new kms.Key(this, 'LogsKey', {
      description: 'mlops-kit delivery: encrypts the pipeline build logs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.logsKey.grantEncryptDecrypt(new iam.ServicePrincipal('logs.amazonaws.com'));
    const logGroup = (this.logGroup = new logs.LogGroup(this, 'BuildLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: this.logsKey,
      removalPolicy: RemovalPolicy.RETAIN,
    }));
    this.pipeline = new pipelines.CodePipeline(this, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      crossAccountKeys: true,
      enableKeyRotation: true,
      selfMutation: true,
      // Synthesis builds no image: the stages' Docker assets (trainer, model server) are built in the Assets stage.
      dockerEnabledForSynth: false,
      synth: this.synth,
      codeBuildDefaults: {
        buildEnvironment: { buildImage: DELIVERY_BUILD_IMAGE },
        partialBuildSpec: codebuild.BuildSpec.fromObject({
          phases: { install: { 'runtime-versions': { nodejs: DELIVERY_NODE_VERSION } } },
        }),
        logging: { cloudWatch: { logGroup } },
      },
    });
  }

  /** Adds an environment's stage: an optional approval before it, checks after it. */
  deploy(stage: Stage, options: DeployOptions = {}): pipelines.StageDeployment {
    return this.pipeline.addStage(stage, {
      pre: options.approval ? [new pipelines.ManualApprovalStep(options.approval, { comment: `Deploy ${stage.stageName}?` })] : [],
      post: [...(options.post ?? [])],
    });
  }

  /** Builds the pipeline now, so its resources exist for acknowledgements and tests. */
  build(): void {
    this.pipeline.buildPipeline();
    acknowledgePipelineFindings(this);
  }
}

/**
 * The acknowledgements every CodePipeline the kit builds needs, on each role and artifact bucket
 * under `scope`: CDK renders the pipeline's grants (artifact bucket and key, CodeBuild logs and
 * reports) with these wildcards, always on the pipeline's own bucket, key, log groups and report
 * groups; and the artifact bucket is versioned here rather than acknowledged.
 */
export function acknowledgePipelineGrants(scope: Construct): void {
  const artifactGrants =
    "CDK's grants on this pipeline's own artifact bucket and KMS key (s3:GetObject*, s3:GetBucket*, s3:List*, s3:DeleteObject*, s3:Abort*, kms:ReEncrypt*, kms:GenerateDataKey*): artifact object keys are named per execution.";
  for (const c of scope.node.findAll()) {
    if (c instanceof iam.Role) {
      Validations.of(c).acknowledge(
        ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'].map(
          (action) => ({ id: `AwsSolutions-IAM5[Action::${action}]`, reason: artifactGrants }),
        ),
        ...complianceAcks('IAMNoInlinePolicy', "CDK's pipeline grants, each scoped to this pipeline's own bucket, key, projects or the target accounts' bootstrap roles: inline, they live and change with the pipeline that needs them."),
      );
      for (const [prefix, why] of [
        ['AwsSolutions-IAM5[Resource::<', "Objects of this pipeline's own artifact bucket (<bucket ARN>/*), named per execution."],
        ['AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:', "CodeBuild's log streams of this project (/aws/codebuild/<project>:*), one per build."],
        ['AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:', "CodeBuild's test report groups of this project (report-group/<project>-*), created per build."],
      ] as const) {
        acknowledgeFindingPrefix(c, prefix, why);
      }
    }
    // HIPAA's and PCI DSS's rule asks a GitHub or Bitbucket source to use OAuth; these projects have
    // no repository source at all, only the pipeline's artifacts, so nothing there holds a credential.
    if (c instanceof codebuild.CfnProject && (Stack.of(c).resolve(c.source) as { type?: unknown }).type === 'CODEPIPELINE') {
      Validations.of(c).acknowledge(
        ...complianceAcks(
          'CodeBuildProjectSourceRepoUrl',
          "The project's source is CODEPIPELINE: it builds the pipeline's input artifact, which the source stage fetched through a CodeConnections connection; no repository URL, token or OAuth credential is configured on the project.",
        ),
      );
    }
    if (c instanceof s3.CfnBucket && c.node.path.endsWith('ArtifactsBucket/Resource')) {
      // Versioned: an overwritten artifact can be recovered (NIST.800.53.R5-S3BucketVersioningEnabled).
      c.versioningConfiguration = { status: 'Enabled' };
      Validations.of(c).acknowledge(
        {
          id: 'AwsSolutions-S1',
          reason:
            "The artifact bucket is written and read only by this pipeline's roles; each object is a build's input or output, traceable to the execution and commit that made it, which CodePipeline's own history records.",
        },
        ...complianceAcks('S3BucketLoggingEnabled', "The artifact bucket is written and read only by this pipeline's roles; each object is a build's input or output, traceable to the execution and commit that made it, which CodePipeline's own history records."),
        ...complianceAcks('S3BucketReplicationEnabled', 'Every artifact is rebuilt from the repository by running the pipeline again; a replica in a second region would restore nothing the source does not hold.'),
      );
    }
  }
}

/** The CDK Pipelines-specific grants on `Resource: "*"` and the bootstrap roles, with why. */
function acknowledgePipelineFindings(pipeline: DeliveryPipeline): void {
  acknowledgePipelineGrants(pipeline);
  const roleAt = (path: string) => pipeline.node.findAll().find((c) => c instanceof iam.Role && c.node.path.endsWith(path));
  const selfMutation = roleAt('UpdatePipeline/SelfMutation/Role');
  if (selfMutation) {
    Validations.of(selfMutation).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Self-mutation runs cdk deploy of the pipeline stack, which reads stacks (cloudformation:DescribeStacks) and the bootstrap bucket (s3:ListBucket) before knowing their names; CDK Pipelines renders them on "*".',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:*:iam::${Stack.of(pipeline).account}:role/*]`,
        reason:
          "sts:AssumeRole only on roles tagged aws-cdk:bootstrap-role (deploy, file and image publishing) in the tooling account: the CDK bootstrap roles, whose names carry the bootstrap qualifier.",
      },
    );
  }
  for (const path of ['Assets/FileRole', 'Assets/DockerRole']) {
    const role = roleAt(path);
    if (role) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'The asset publishing role starts and follows the asset CodeBuild projects CDK Pipelines creates per asset (codebuild:StartBuild, BatchGetBuilds, StopBuild); their names are known only once the pipeline is built.',
      });
    }
  }
}

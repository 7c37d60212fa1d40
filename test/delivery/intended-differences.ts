/**
 * Where production's templates are meant to differ from staging's, and why: the one list the
 * promotion check (`promotion.test.ts`) holds the two environments to. Each entry names the config
 * key (`lib/config/environments.ts`) that decides it. A difference not matched here fails the test:
 * add an entry only for a difference the config (or, said so, the code) intends.
 *
 * An entry matches a difference in a stack (any, when `stack` is absent) on a resource type (`*`:
 * any) either
 * - `property`: a property path, matched as a prefix (`Properties.LifecycleConfiguration` covers
 *   `Properties.LifecycleConfiguration.Rules[2].ExpirationInDays`), or a resource attribute
 *   (`DeletionPolicy`); or
 * - `onlyIn`: a resource present in that environment only (`pathIncludes` narrows it by construct
 *   path), or, with `type: 'output'`, a stack output (`pathIncludes` narrows it by output name).
 */
export interface IntendedDifference {
  readonly config: string;
  readonly reason: string;
  readonly stack?: string;
  readonly type: string;
  readonly property?: string;
  readonly onlyIn?: 'staging' | 'production';
  readonly pathIncludes?: string;
}

const destroy = 'removalPolicy: destroy in staging, retain in production';

export const INTENDED_DIFFERENCES: readonly IntendedDifference[] = [
  // Removal policy: production keeps data, keys, tables and the cluster when a stack goes.
  { config: 'removalPolicy', type: '*', property: 'DeletionPolicy', reason: `${destroy}: CloudFormation retains the resource on stack deletion` },
  { config: 'removalPolicy', type: '*', property: 'UpdateReplacePolicy', reason: `${destroy}: a replaced resource is kept, not deleted` },
  { config: 'removalPolicy', stack: 'DataLake', type: 'Custom::S3AutoDeleteObjects', onlyIn: 'staging', reason: `${destroy}: buckets are emptied so cdk destroy can delete them` },
  { config: 'removalPolicy', stack: 'DataLake', type: 'AWS::Lambda::Function', onlyIn: 'staging', pathIncludes: 'S3AutoDeleteObjects', reason: 'the auto-delete provider function empties staging buckets' },
  { config: 'removalPolicy', stack: 'DataLake', type: 'AWS::IAM::Role', onlyIn: 'staging', pathIncludes: 'S3AutoDeleteObjects', reason: "the auto-delete provider function's role" },
  { config: 'removalPolicy', stack: 'DataLake', type: 'AWS::S3::BucketPolicy', property: 'Properties.PolicyDocument.Statement', reason: 'staging bucket policies let the auto-delete provider list and delete objects' },
  { config: 'removalPolicy', stack: 'DataLake', type: 'AWS::S3::Bucket', property: 'Properties.Tags', reason: 'staging buckets carry the aws-cdk:auto-delete-objects tag the provider checks' },
  { config: 'removalPolicy', type: 'AWS::KMS::Key', property: 'Properties.PendingWindowInDays', reason: 'a retained key waits 30 days before deletion, a disposable one 7' },
  { config: 'removalPolicy', stack: 'DataLake', type: 'AWS::Athena::WorkGroup', property: 'Properties.RecursiveDeleteOption', reason: 'a disposable workgroup is deleted with its saved queries' },
  { config: 'removalPolicy', type: 'AWS::DynamoDB::Table', property: 'Properties.DeletionProtectionEnabled', reason: 'the retained registry and online-feature tables refuse deletion' },
  { config: 'removalPolicy', stack: 'Serving', type: 'AWS::ElasticLoadBalancingV2::LoadBalancer', property: 'Properties.LoadBalancerAttributes', reason: "deletion protection on the retained NLB: deleting it breaks the VPC link's target" },

  // Sizes, retention, limits.
  { config: 'dataLake.*', stack: 'DataLake', type: 'AWS::S3::Bucket', property: 'Properties.LifecycleConfiguration', reason: 'noncurrent versions kept 365 days (30), colder storage at 30/180 days, Athena results 30 days (7), access logs 365 (90)' },
  { config: 'athena.bytesScannedCutoffPerQuery', stack: 'DataLake', type: 'AWS::Athena::WorkGroup', property: 'Properties.WorkGroupConfiguration.BytesScannedCutoffPerQuery', reason: '100 GB per query in production, 10 GB in staging' },
  { config: 'logs.retentionDays', type: 'AWS::Logs::LogGroup', property: 'Properties.RetentionInDays', reason: 'logs kept 365 days in production, 30 in staging' },
  { config: 'lambda.memorySizeMb', type: 'AWS::Lambda::Function', property: 'Properties.MemorySize', reason: '1024 MB in production, 512 in staging' },
  { config: 'lambda.reservedConcurrency', type: 'AWS::Lambda::Function', property: 'Properties.ReservedConcurrentExecutions', reason: 'production reserves 100 per request-serving function, 10 per workflow step; staging shares the pool' },
  { config: 'api.throttleRateLimit, api.throttleBurstLimit', type: 'AWS::ApiGateway::Stage', property: 'Properties.MethodSettings', reason: 'production throttles at 500/1000, staging at 50/100' },
  { config: 'pipelines.materializationSchedule', stack: 'FeatureStore', type: 'AWS::Scheduler::Schedule', property: 'Properties.ScheduleExpression', reason: 'materialization hourly in production, daily in staging' },
  { config: 'pipelines.trainingInstanceType, pipelines.trainingLimits', stack: 'TrainingPipeline', type: 'AWS::Lambda::Function', property: 'Properties.Environment.Variables.TRAINING_LIMITS', reason: 'production runs may ask for up to 4 instances of 7 types and 500 GB (staging: 2 of 3 types, 100 GB); the default type is ml.m5.xlarge (ml.m5.large)' },
  { config: 'pipelines.trainingInstanceType, pipelines.trainingMaxRuntimeSeconds', stack: 'TrainingPipeline', type: 'AWS::StepFunctions::StateMachine', property: 'Properties.DefinitionString', reason: 'ml.m5.xlarge for up to 4 h in production (ml.m5.large, 1 h): the training state, its task timeout and the machine timeout' },

  // Backups and protection.
  { config: 'registry.pointInTimeRecovery', type: 'AWS::DynamoDB::Table', property: 'Properties.PointInTimeRecoverySpecification', reason: 'point-in-time recovery on the registry and online-feature tables in production' },
  ...['AWS::Backup::BackupVault', 'AWS::Backup::BackupPlan', 'AWS::Backup::BackupSelection', 'AWS::IAM::Role'].map(
    (type): IntendedDifference => ({ config: 'registry.pointInTimeRecovery', stack: 'Registry', type, onlyIn: 'production', pathIncludes: 'Backup', reason: 'the registry table is backed up daily and monthly by AWS Backup in production' }),
  ),
  ...['AWS::WAFv2::WebACL', 'AWS::WAFv2::WebACLAssociation', 'AWS::WAFv2::LoggingConfiguration'].map(
    (type): IntendedDifference => ({ config: 'api.waf', type, onlyIn: 'production', reason: 'every production API has a WAF web ACL (managed rules, rate limit), logged' }),
  ),
  { config: 'api.waf', type: 'AWS::Logs::LogGroup', onlyIn: 'production', pathIncludes: '/WafLogs/', reason: "each web ACL's log group" },

  // Serving: cluster size and shape, endpoint access, canary.
  // serving.privateEndpoint/publicEndpointCidrs: both Kubernetes APIs are private until staging lists
  // CIDRs (then add the EndpointPublicAccess and PublicAccessCidrs difference here).
  { config: 'serving.nodeInstanceType, serving.minNodes/desiredNodes/maxNodes', stack: 'Serving', type: 'AWS::EKS::Nodegroup', property: 'Properties.InstanceTypes', reason: 'm5.large nodes in production, t3.large in staging' },
  { config: 'serving.minNodes/desiredNodes/maxNodes', stack: 'Serving', type: 'AWS::EKS::Nodegroup', property: 'Properties.ScalingConfig', reason: '3/3/9 nodes in production, 1/2/3 in staging' },
  { config: 'serving.modelReplicas', stack: 'Serving', type: 'AWS::Lambda::Function', property: 'Properties.Environment.Variables.MODEL_REPLICAS', reason: '3 model replicas in production, 1 in staging' },
  { config: 'serving.autoscaling.maxReplicas', stack: 'Serving', type: 'AWS::Lambda::Function', property: 'Properties.Environment.Variables.MODEL_MAX_REPLICAS', reason: 'predictors scale to 12 pods in production, 4 in staging' },
  { config: 'serving.canaryTrafficPercent', stack: 'Serving', type: 'AWS::Lambda::Function', property: 'Properties.Environment.Variables.CANARY_TRAFFIC_PERCENT', reason: 'a canary gets 10 % in production, 20 % in staging' },
  { config: 'serving.canaryTrafficPercent', stack: 'Serving', type: 'AWS::CloudWatch::Alarm', property: 'Properties.Threshold', reason: "the canary's 5XX alarm threshold is half its traffic share" },
  { config: 'serving.canaryTrafficPercent', stack: 'Serving', type: 'AWS::CloudWatch::Alarm', property: 'Properties.AlarmDescription', reason: 'the alarm says its threshold and share' },
  // Three zones in production, two in staging: every subnet list, and the third zone's subnets.
  ...[
    ['AWS::EKS::Cluster', 'Properties.ResourcesVpcConfig.SubnetIds'],
    ['AWS::EKS::Nodegroup', 'Properties.Subnets'],
    ['AWS::Lambda::Function', 'Properties.VpcConfig.SubnetIds'],
    ['AWS::ElasticLoadBalancingV2::LoadBalancer', 'Properties.Subnets'],
    ['AWS::EC2::VPCEndpoint', 'Properties.SubnetIds'],
    ['AWS::EC2::VPCEndpoint', 'Properties.RouteTableIds'],
  ].map(([type, property]): IntendedDifference => ({ config: 'serving.availabilityZones', stack: 'Serving', type: type!, property, reason: 'three availability zones in production, two in staging' })),
  ...['AWS::EC2::Subnet', 'AWS::EC2::RouteTable', 'AWS::EC2::SubnetRouteTableAssociation', 'AWS::EC2::Route'].map(
    (type): IntendedDifference => ({ config: 'serving.availabilityZones', stack: 'Serving', type, onlyIn: 'production', pathIncludes: 'Subnet3', reason: "the third zone's ingress and node subnets" }),
  ),
  // NAT: one per zone in production, one shared in staging. Decided in stacks/serving-stack.ts by the
  // environment's name, not by a config key (yet).
  ...['AWS::EC2::NatGateway', 'AWS::EC2::EIP', 'AWS::EC2::Route'].map(
    (type): IntendedDifference => ({ config: "(code) config.name === 'production' in ServingStack", stack: 'Serving', type, onlyIn: 'production', pathIncludes: 'ingressSubnet', reason: 'a NAT gateway per zone in production, so one zone failing leaves the others their egress' }),
  ),
  { config: "(code) config.name === 'production' in ServingStack", stack: 'Serving', type: 'AWS::EC2::Route', property: 'Properties.NatGatewayId', reason: "each production zone's node subnets route through their own zone's NAT gateway" },
  // The interface endpoints' subnets come after every zone's ingress and node subnets, so their
  // ranges (and the model pods' egress to them) follow the number of zones.
  { config: 'serving.availabilityZones', stack: 'Serving', type: 'AWS::EC2::Subnet', property: 'Properties.CidrBlock', reason: "the endpoint subnets' ranges follow the zones' ingress and node subnets" },
  { config: 'serving.availabilityZones', stack: 'Serving', type: 'Custom::AWSCDK-EKS-KubernetesResource', property: 'Properties.Manifest', reason: "model pods' egress names the endpoint subnets' ranges" },
  // The cluster is named from its construct path (stage included), so its control-plane log group can exist first.
  { config: '(code) the stage name in ModelCluster', stack: 'Serving', type: 'AWS::EKS::Cluster', property: 'Properties.Name', reason: "the cluster's name carries the stage's, like every generated physical name" },
  { config: '(code) the stage name in ModelCluster', stack: 'Serving', type: 'AWS::Logs::LogGroup', property: 'Properties.LogGroupName', reason: "/aws/eks/<cluster name>/cluster names the cluster" },

  // Operations (alarms.*, pipelines.retraining): production pages sooner and on tighter API limits,
  // and tells a human about drift instead of retraining by itself.
  { config: 'alarms.evaluationPeriods', type: 'AWS::CloudWatch::Alarm', property: 'Properties.EvaluationPeriods', reason: 'production alarms after 2 breaching periods, staging after 1' },
  ...['Registry', 'FeatureStore'].flatMap((stack): IntendedDifference[] => [
    { config: 'alarms.api5xxRate, alarms.apiP99Ms', stack, type: 'AWS::CloudWatch::Alarm', property: 'Properties.Threshold', reason: "the API's 5xx share alarms at 1 % (5 %) and its p99 at 2,000 ms (5,000)" },
    { config: 'alarms.api5xxRate, alarms.apiP99Ms', stack, type: 'AWS::CloudWatch::Alarm', property: 'Properties.AlarmDescription', reason: 'the alarm says its threshold' },
  ]),
  { config: 'removalPolicy', stack: 'DataLake', type: 'AWS::CloudWatch::Alarm', onlyIn: 'staging', pathIncludes: 'S3AutoDeleteObjects', reason: 'the auto-delete provider function (staging only) gets the default Lambda alarms' },
  { config: 'removalPolicy', stack: 'DataLake', type: 'output', onlyIn: 'staging', pathIncludes: 'S3AutoDeleteObjects', reason: "the dashboard graphs the auto-delete provider function, exported by name" },
  { config: 'removalPolicy', stack: 'Operations', type: 'AWS::CloudWatch::Dashboard', property: 'Properties.DashboardBody', reason: "the dashboard's widgets list the stage's functions (staging's auto-delete provider) and alarm thresholds" },
  { config: 'pipelines.retraining', stack: 'TrainingPipeline', type: 'AWS::Events::Rule', property: 'Properties.Description', reason: 'drift retrains by itself in staging (auto) and notifies the alarm topic in production (notify)' },
  { config: 'pipelines.retraining', stack: 'TrainingPipeline', type: 'AWS::Events::Rule', property: 'Properties.Targets', reason: "auto targets the training machine with its input; notify targets the alarm topic with the command to run" },
  ...['AWS::IAM::Role', 'AWS::IAM::Policy'].map(
    (type): IntendedDifference => ({ config: 'pipelines.retraining', stack: 'TrainingPipeline', type, onlyIn: 'staging', pathIncludes: 'EventsRole', reason: 'the role EventBridge starts training with (auto only)' }),
  ),
  ...[['AWS::KMS::Key', 'Properties.KeyPolicy.Statement'], ['AWS::SNS::TopicPolicy', 'Properties.PolicyDocument.Statement']].map(
    ([type, property]): IntendedDifference => ({ config: 'pipelines.retraining', stack: 'Alarms', type: type!, property, reason: "notify lets EventBridge publish to the alarm topic and use its key" }),
  ),

  // Releases run staging → production (release.to in staging, release.from in production).
  { config: 'release.to', stack: 'Release', type: 'output', onlyIn: 'staging', pathIncludes: 'ReleaseSourceRoleArn', reason: "the role production's release machine assumes to read staging, for production's config" },
  ...['AWS::IAM::Role', 'AWS::IAM::Policy'].map(
    (type): IntendedDifference => ({ config: 'release.to', stack: 'Release', type, onlyIn: 'staging', pathIncludes: 'SourceRole', reason: 'staging is the source of releases: a read-only role the target environment assumes' }),
  ),
  { config: 'release.to', stack: 'Release', type: 'AWS::IAM::Policy', onlyIn: 'staging', pathIncludes: 'ReadRegistry', reason: "the source role's GET on staging's registry API" },
  { config: 'release.from', stack: 'Release', type: 'AWS::Lambda::Function', property: 'Properties.Environment.Variables.SOURCE_ROLE_ARNS', reason: 'production releases from staging: the one role its release function may assume' },
  { config: 'release.from', stack: 'Release', type: 'AWS::IAM::Policy', property: 'Properties.PolicyDocument.Statement', reason: "production's release function may sts:AssumeRole on staging's release-source role" },

  // Production only through the release path: no promote grant for data scientists, the registry's guard on.
  { config: 'registry.productionThroughReleaseOnly', stack: 'Registry', type: 'AWS::IAM::Policy', onlyIn: 'staging', pathIncludes: 'DataScientistRole/InvokeReadWritePromote', reason: 'staging data scientists may transition stages and move aliases' },
  { config: 'registry.productionThroughReleaseOnly', stack: 'Registry', type: 'AWS::IAM::Policy', onlyIn: 'production', pathIncludes: 'DataScientistRole/InvokeReadWrite', reason: 'production data scientists read and write the registry but never promote: Production only through a release' },
  { config: 'registry.productionThroughReleaseOnly', stack: 'Registry', type: 'AWS::IAM::Role', property: 'Properties.Description', reason: "the data-scientist role's description says whether it promotes" },
  { config: 'registry.productionThroughReleaseOnly', stack: 'Registry', type: 'AWS::Lambda::Function', property: 'Properties.Environment.Variables.PRODUCTION_PROMOTERS', reason: "production's registry accepts a move into Production only from the release machine's role" },

  // Names CDK derives from content: an API's deployment is named after a hash of the API's definition.
  { config: '(derived) the API definition above', type: 'AWS::ApiGateway::Stage', property: 'Properties.DeploymentId', reason: "the stage points at a deployment whose logical id hashes the API's definition (throttling, WAF), so it differs with them" },
];

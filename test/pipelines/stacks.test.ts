import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { renderDefinitionString, validateAsl } from '../../lib/asl';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { METRIC_DEFINITIONS } from '../../lib/trainer/contract';
import { BATCH_RESULTS_PREFIX, BATCH_STAGING_TABLE, BATCH_STATES } from '../../stacks/batch-inference-stack';
import { DEFAULT_SCHEDULED_INPUT, TRAINING_STATES } from '../../stacks/training-pipeline-stack';
import { bundleInContext, contextSources, readDockerfile } from '../images/dockerfile';
import { TRAINER_CONTEXT } from '../../lib/constructs/image-context';
import { REGISTRY_URL, synthPipelines } from './synth';

type States = Record<string, Record<string, any>>;

const environments = synthPipelines();

function definitionOf(t: Template): Record<string, any> {
  // The batch stack also holds the model-quality machine (lib/constructs/model-quality.ts).
  const machines = Object.entries(t.findResources('AWS::StepFunctions::StateMachine'))
    .filter(([id]) => !id.startsWith('ModelQuality'))
    .map(([, m]) => m);
  expect(machines).toHaveLength(1);
  return renderDefinitionString(machines[0]!['Properties']['DefinitionString']);
}

/** Every state, Map item processors included. */
function allStates(definition: Record<string, any>): States {
  const out: States = {};
  const walk = (d: Record<string, any>) => {
    for (const [name, state] of Object.entries(d['States'] as States)) {
      out[name] = state;
      if (state['ItemProcessor']) walk(state['ItemProcessor']);
      if (state['Iterator']) walk(state['Iterator']);
      for (const b of state['Branches'] ?? []) walk(b);
    }
  };
  walk(definition);
  return out;
}

/** Every Allow statement of every IAM policy and role in a template. */
function allowStatements(t: Template): { actions: string[]; resources: unknown[]; condition?: unknown }[] {
  const found: { actions: string[]; resources: unknown[]; condition?: unknown }[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (o['Effect'] === 'Allow' && o['Action'] !== undefined) {
        found.push({
          actions: ([] as unknown[]).concat(o['Action']).map(String),
          resources: ([] as unknown[]).concat(o['Resource']),
          condition: o['Condition'],
        });
      }
      Object.values(o).forEach(visit);
    }
  };
  visit(t.toJSON()['Resources']);
  return found;
}

const LAMBDA_TRANSIENT = ['Lambda.ServiceException', 'Lambda.TooManyRequestsException'];
const RESOURCE_STAR_ALLOWED = [
  /^xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets)$/,
  /^logs:(CreateLogDelivery|GetLogDelivery|UpdateLogDelivery|DeleteLogDelivery|ListLogDeliveries|PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$/,
  /^kms:/,
  /^ecr:GetAuthorizationToken$/,
  /^cloudwatch:PutMetricData$/,
  // SageMaker's placement of a job in the training VPC: read-only discovery.
  /^ec2:Describe[A-Za-z]*$/,
];

describe.each(ENVIRONMENT_NAMES)('training pipeline (%s)', (name) => {
  const env = environments[name];
  const t = env.trainingTemplate;
  const config = resolveEnvironment(name, { env: {} });
  const definition = definitionOf(t);
  const states = allStates(definition);
  const S = TRAINING_STATES;

  it('passes asl-validator as JSONPath', () => {
    expect(validateAsl(definition)).toEqual({ isValid: true, errors: [] });
    expect(definition['QueryLanguage']).toBe('JSONPath');
  });

  it('reads as the pipeline in the console: validate, features, train, evaluate, gate, register, notify', () => {
    expect(definition['StartAt']).toBe(S.validate);
    expect(Object.keys(states).sort()).toEqual(Object.values(S).sort());
    const order = [
      S.validate,
      S.features,
      S.exportTrain,
      S.exportHoldout,
      S.stage,
      S.train,
      S.evaluate,
      S.gate,
    ];
    for (const [i, state] of order.slice(0, -1).entries()) expect(states[state]!['Next']).toBe(order[i + 1]);
    expect(states[S.baselineCounts]!['Next']).toBe(S.baseline);
    expect(states[S.baseline]!['Next']).toBe(S.register);
    expect(states[S.register]!['Next']).toBe(S.recordSuccess);
    expect(states[S.notifySuccess]!['Next']).toBe(S.succeeded);
  });

  it('gives every Task a TimeoutSeconds', () => {
    const tasks = Object.entries(states).filter(([, s]) => s['Type'] === 'Task');
    expect(tasks.length).toBeGreaterThanOrEqual(11);
    for (const [n, s] of tasks) expect(s['TimeoutSeconds'], n).toBeGreaterThan(0);
  });

  it('catches every error of every work state into "Record failure", which ends in a Fail with the step\'s error', () => {
    const work = [
      S.validate,
      S.features,
      S.exportTrain,
      S.exportHoldout,
      S.stage,
      S.train,
      S.evaluate,
      S.baselineCounts,
      S.baseline,
    ];
    for (const w of work) {
      expect(states[w]!['Catch'], w).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: S.recordFailure },
      ]);
    }
    // A failed registration is rolled back first; a failed rollback keeps the registration's error.
    expect(states[S.register]!['Catch']).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: S.rollback },
    ]);
    expect(states[S.rollback]).toMatchObject({
      Parameters: { rollback: true, 'model_name.$': '$.plan.model_name', 'execution.$': '$$.Execution.Name' },
      ResultPath: '$.rollback',
      Next: S.recordFailure,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.rollback_error', Next: S.recordFailure }],
    });
    expect(states[S.recordFailure]!['Next']).toBe(S.notifyFailure);
    expect(states[S.notifyFailure]!['Next']).toBe(S.failed);
    expect(states[S.failed]).toMatchObject({
      Type: 'Fail',
      ErrorPath: '$.notice.error',
      CausePath: '$.notice.cause',
    });
  });

  it('retries throttling and service errors with backoff on every Task', () => {
    const retried = (state: string) =>
      (states[state]!['Retry'] as { ErrorEquals: string[]; BackoffRate: number }[]) ?? [];
    for (const w of [S.validate, S.stage, S.evaluate, S.register]) {
      expect(retried(w)[0]!.ErrorEquals, w).toEqual(expect.arrayContaining(LAMBDA_TRANSIENT));
      expect(retried(w)[0]!.BackoffRate).toBe(2);
    }
    for (const w of [S.evaluate, S.register, S.rollback]) {
      expect(retried(w)[0]!.ErrorEquals).toContain('RegistryUnavailableError');
    }
    for (const w of [S.features, S.exportTrain, S.exportHoldout]) {
      expect(retried(w)[0]!.ErrorEquals).toContain('Athena.TooManyRequestsException');
    }
    expect(retried(S.train)[0]!.ErrorEquals).toEqual(['SageMaker.AmazonSageMakerException']);
    for (const n of [S.notifySuccess, S.notifyRejection, S.notifyFailure]) {
      expect(retried(n)[0]!.ErrorEquals).toContain('SNS.ThrottledException');
    }
  });

  it('builds features with Athena UNLOAD queries in the lake workgroup (.sync), each attempt into a folder of its own', () => {
    // Athena refuses to UNLOAD where anything is: a retried or redriven UNLOAD writes to
    // <location>attempt-<redrive>-<retry>/ and returns that folder's name.
    const attempt = "States.Format('attempt-{}-{}', $$.Execution.RedriveCount, $$.State.RetryCount)";
    const perAttempt = (p: string) =>
      `States.Format('{}attempt-{}-{}{}', ${p}.head, $$.Execution.RedriveCount, $$.State.RetryCount, ${p}.tail)`;
    for (const [state, query, unload] of [
      [S.features, perAttempt('$.plan.queries.features'), true],
      [S.exportTrain, perAttempt('$.plan.queries.train'), true],
      [S.exportHoldout, perAttempt('$.plan.queries.holdout'), true],
      [S.baselineCounts, '$.plan.queries.baseline', false],
    ] as const) {
      expect(states[state]).toMatchObject({
        Resource: 'arn:aws:states:::athena:startQueryExecution.sync',
        Parameters: {
          'QueryString.$': query,
          WorkGroup: `mlops-${name}`,
          QueryExecutionContext: { Database: config.dataLake.glueDatabaseName },
        },
      });
      expect(states[state]!['ResultSelector']['attempt.$'], state).toBe(unload ? attempt : undefined);
    }
  });

  it('trains with the trainer image, the train channel, the configured stopping condition and the lake key', () => {
    const train = states[S.train]!;
    expect(train['Resource']).toBe('arn:aws:states:::sagemaker:createTrainingJob.sync');
    const p = train['Parameters'];
    // The image URI is an Fn::Sub of the bootstrap repository and the asset's content hash.
    const raw = JSON.stringify(
      Object.values(t.findResources('AWS::StepFunctions::StateMachine'))[0]!['Properties'],
    );
    expect(raw).toContain('container-assets');
    expect(raw).toContain(`:${env.training.trainerImage.imageTag}`);
    expect(env.training.trainerImage.imageTag).toMatch(/^[0-9a-f]{64}$/);
    expect(p['AlgorithmSpecification']['MetricDefinitions']).toEqual(METRIC_DEFINITIONS);
    // The channels are folders of Parquet parts; the training channel is sharded across instances
    // when the run asks for more than one (the plan says which), the validation channel never.
    expect(p['InputDataConfig']).toEqual([
      {
        ChannelName: 'train',
        ContentType: 'application/x-parquet',
        DataSource: {
          S3DataSource: {
            'S3Uri.$': '$.plan.locations.train',
            S3DataType: 'S3Prefix',
            'S3DataDistributionType.$': '$.plan.resources.train_distribution',
          },
        },
      },
      {
        ChannelName: 'validation',
        ContentType: 'application/x-parquet',
        DataSource: {
          S3DataSource: { 'S3Uri.$': '$.plan.locations.holdout', S3DataType: 'S3Prefix', S3DataDistributionType: 'FullyReplicated' },
        },
      },
    ]);
    expect(p['AlgorithmSpecification']['TrainingInputMode.$']).toBe('$.plan.resources.input_mode');
    expect(p['AlgorithmSpecification']).not.toHaveProperty('TrainingInputMode');
    expect(p['StoppingCondition']).toEqual({
      MaxRuntimeInSeconds: config.pipelines.trainingMaxRuntimeSeconds,
    });
    // Chosen per execution by "Validate data" within pipelines.trainingLimits.
    expect(p['ResourceConfig']).toMatchObject({
      'InstanceCount.$': '$.plan.resources.instance_count',
      'InstanceType.$': '$.plan.resources.instance_type',
      'VolumeSizeInGB.$': '$.plan.resources.volume_size_gb',
    });
    expect(JSON.stringify(p['ResourceConfig'])).not.toMatch(/"(InstanceCount|InstanceType|VolumeSizeInGB)":/);
    expect(p['OutputDataConfig']['S3OutputPath.$']).toBe('$.plan.locations.training_output');
    expect(p['HyperParameters.$']).toBe('$.plan.hyperparameters');
    expect(p['Environment']).toEqual({ 'MLOPS_DATA_VERSION.$': '$.plan.data_version_json' });
    // Both KMS ids are the lake key (imported from the data lake stack).
    const keyArn = 'arn:aws:lambda:us-east-1:123456789012:function:reference';
    expect(p['OutputDataConfig']['KmsKeyId']).toBe(keyArn);
    expect(p['ResourceConfig']['VolumeKmsKeyId']).toBe(keyArn);
    expect(JSON.stringify(t.toJSON())).toContain('ExportsOutputFnGetAttLakeKey');
    expect(train['TimeoutSeconds']).toBe(config.pipelines.trainingMaxRuntimeSeconds + 30 * 60);
  });

  it('gates on the verdict: pass → register, otherwise a Fail named ModelRejected', () => {
    expect(states[S.gate]).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.evaluation.verdict.passed', BooleanEquals: true, Next: S.baselineCounts }],
      Default: S.recordRejection,
    });
    expect(states[S.recordRejection]!['Next']).toBe(S.notifyRejection);
    expect(states[S.notifyRejection]!['Next']).toBe(S.rejected);
    expect(states[S.rejected]).toMatchObject({
      Type: 'Fail',
      Error: 'ModelRejected',
      CausePath: '$.notice.summary',
    });
  });

  it('publishes outcomes to a KMS-encrypted, SSL-only topic', () => {
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    for (const n of [S.notifySuccess, S.notifyRejection, S.notifyFailure]) {
      expect(states[n]).toMatchObject({
        Resource: 'arn:aws:states:::sns:publish',
        Parameters: { 'Message.$': 'States.JsonToString($.notice)' },
      });
    }
  });

  it(`${name === 'local' ? 'has no schedule' : 'starts on the configured schedule with the example input'}`, () => {
    if (config.pipelines.trainingSchedule === null) {
      t.resourceCountIs('AWS::Scheduler::Schedule', 0);
      return;
    }
    t.resourceCountIs('AWS::Scheduler::Schedule', 1);
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: config.pipelines.trainingSchedule,
      Target: Match.objectLike({
        Input: JSON.stringify(DEFAULT_SCHEDULED_INPUT),
        RetryPolicy: Match.anyValue(),
      }),
    });
  });

  it('passes the registry URL and auth to the evaluate and register functions and grants them the registry: evaluate reads, register reads and writes, neither promotes', () => {
    const fns = Object.values(t.findResources('AWS::Lambda::Function')).map((f) => f['Properties']);
    const withRegistry = fns.filter(
      (f) => f['Environment']?.['Variables']?.['REGISTRY_URL'] === REGISTRY_URL,
    );
    expect(withRegistry).toHaveLength(2);
    for (const f of withRegistry)
      expect(f['Environment']['Variables']['REGISTRY_AUTH']).toBe(config.api.auth);
    expect(env.registryGrantees).toEqual([
      env.training.functions.evaluate.function,
      env.training.functions.register!.function,
    ]);
    expect(env.registryAccess).toEqual([['read'], ['read', 'write']]);
  });

  it('grants no "*" action, and Resource "*" only where AWS allows nothing narrower', () => {
    const statements = [...allowStatements(t), ...allowStatements(env.batchTemplate)];
    expect(statements.length).toBeGreaterThan(20);
    const broad = statements.flatMap((s) => s.actions.filter((a) => a === '*' || /^[a-z0-9-]+:\*$/i.test(a)));
    expect(broad).toEqual([]);
    const wide = statements
      .filter((s) => s.resources.includes('*'))
      .flatMap((s) => s.actions.filter((a) => !RESOURCE_STAR_ALLOWED.some((re) => re.test(a))));
    expect(wide).toEqual([]);
    const metrics = statements.find((s) => s.actions.includes('cloudwatch:PutMetricData'))!;
    expect(metrics.condition).toEqual({
      StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/TrainingJobs' },
    });
  });

  it('runs training jobs with network isolation, as a role SageMaker assumes only for this account\'s pipeline jobs', () => {
    const [machine] = Object.values(t.findResources('AWS::StepFunctions::StateMachine')).filter((m) =>
      JSON.stringify(m['Properties']['DefinitionString']).includes('createTrainingJob'),
    );
    expect(JSON.stringify(machine!['Properties']['DefinitionString'])).toContain('\\"EnableNetworkIsolation\\":true');
    const [, role] = Object.entries(t.findResources('AWS::IAM::Role')).find(([id]) => id.startsWith('TrainingJobRole'))!;
    expect(role['Properties']['AssumeRolePolicyDocument']['Statement']).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'sagemaker.amazonaws.com' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': config.account },
          ArnLike: {
            'aws:SourceArn': {
              'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:sagemaker:${config.region}:${config.account}:training-job/train-*`]],
            },
          },
        },
      },
    ]);
  });

  it('fails if any role a service assumes for SageMaker lacks the confused-deputy conditions', () => {
    const trusts = Object.values(t.findResources('AWS::IAM::Role'))
      .flatMap((r) => r['Properties']['AssumeRolePolicyDocument']['Statement'] as Record<string, any>[])
      .filter((s) => JSON.stringify(s['Principal']).includes('sagemaker.amazonaws.com'));
    expect(trusts.length).toBeGreaterThan(0);
    for (const s of trusts) {
      expect(s['Condition']?.['StringEquals']?.['aws:SourceAccount']).toBeDefined();
      expect(s['Condition']?.['ArnLike']?.['aws:SourceArn']).toBeDefined();
    }
  });

  describe('training VPC', () => {
    const vpcs = t.findResources('AWS::EC2::VPC');
    const train = states[S.train]!;
    const roleStatements = Object.entries(t.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('TrainingJobRole'))
      .flatMap(([, p]) => p['Properties']['PolicyDocument']['Statement'] as Record<string, any>[]);

    const zones = config.pipelines.trainingAvailabilityZones;
    if (zones === null) {
      it('has none locally: the local engine runs jobs on this machine, and the task names no VpcConfig', () => {
        expect(Object.keys(vpcs)).toEqual([]);
        expect(train['Parameters']['VpcConfig']).toBeUndefined();
        expect(JSON.stringify(roleStatements)).not.toContain('ec2:');
      });
      return;
    }

    it('runs the job in the isolated subnets of a VPC of its own, in its own security group', () => {
      expect(Object.keys(vpcs)).toHaveLength(1);
      const subnets = Object.entries(t.findResources('AWS::EC2::Subnet'));
      expect(subnets).toHaveLength(zones.length);
      for (const [, subnet] of subnets) expect(subnet['Properties']['MapPublicIpOnLaunch']).toBe(false);
      const [sgId] = Object.keys(t.findResources('AWS::EC2::SecurityGroup'));
      // The rendered definition writes each reference as a placeholder naming the logical id.
      expect(train['Parameters']['VpcConfig']).toEqual({
        SecurityGroupIds: [expect.stringContaining(sgId!)],
        Subnets: subnets.map(([id]) => expect.stringContaining(id)),
      });
      expect(train['Parameters']['EnableNetworkIsolation']).toBe(true);
    });

    it('fails if the VPC has a way to the internet: no internet gateway, no NAT, flow logs on', () => {
      t.resourceCountIs('AWS::EC2::InternetGateway', 0);
      t.resourceCountIs('AWS::EC2::NatGateway', 0);
      t.resourceCountIs('AWS::EC2::EIP', 0);
      const routes = Object.values(t.findResources('AWS::EC2::Route'));
      expect(routes).toEqual([]);
      t.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
    });

    it('admits no traffic in, and lets HTTPS out only (the S3 gateway endpoint is the one route)', () => {
      const [sg] = Object.values(t.findResources('AWS::EC2::SecurityGroup'));
      expect(sg!['Properties']['SecurityGroupIngress']).toBeUndefined();
      t.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
      expect(sg!['Properties']['SecurityGroupEgress']).toEqual([
        { CidrIp: '0.0.0.0/0', Description: expect.stringMatching(/^HTTPS/), FromPort: 443, IpProtocol: 'tcp', ToPort: 443 },
      ]);
      const [endpoint] = Object.values(t.findResources('AWS::EC2::VPCEndpoint'));
      expect(endpoint!['Properties']['VpcEndpointType']).toBe('Gateway');
      expect(JSON.stringify(endpoint!['Properties']['ServiceName'])).toContain('.s3');
      const statements = endpoint!['Properties']['PolicyDocument']['Statement'] as Record<string, any>[];
      expect(statements.map((s) => s['Sid'])).toEqual(['TrainingBuckets', 'EcrImageLayers']);
      expect(JSON.stringify(statements[0]!['Resource'])).toMatch(/ArtifactsBucket|Artifacts/);
      expect(statements[0]!['Condition']).toEqual({ StringEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } } });
    });

    it("gives the job's role the network-interface calls SageMaker needs, bound to this VPC", () => {
      const bySid = Object.fromEntries(roleStatements.filter((s) => s['Sid']?.startsWith('TrainingVpc')).map((s) => [s['Sid'], s]));
      expect(Object.keys(bySid).sort()).toEqual(['TrainingVpcCreateInterfaces', 'TrainingVpcDescribe', 'TrainingVpcManageInterfaces']);
      expect(bySid['TrainingVpcDescribe']['Resource']).toBe('*');
      expect([bySid['TrainingVpcDescribe']['Action']].flat().every((a: string) => a.startsWith('ec2:Describe'))).toBe(true);
      const create = JSON.stringify(bySid['TrainingVpcCreateInterfaces']['Resource']);
      expect(bySid['TrainingVpcCreateInterfaces']['Action']).toBe('ec2:CreateNetworkInterface');
      expect(create).toContain(':subnet/');
      expect(create).toContain(':security-group/');
      expect(create).not.toContain('"*"');
      const manage = bySid['TrainingVpcManageInterfaces'];
      expect(manage['Action']).toEqual(['ec2:CreateNetworkInterfacePermission', 'ec2:DeleteNetworkInterface', 'ec2:DeleteNetworkInterfacePermission']);
      expect(JSON.stringify(manage['Condition']['ArnEquals']['ec2:Vpc'])).toContain(':vpc/');
    });
  });

  it('scopes the training job role to reading the staged splits and writing models', () => {
    const role = Object.entries(t.findResources('AWS::IAM::Policy')).find(([id]) =>
      id.startsWith('TrainingJobRole'),
    )!;
    const statements = role[1]['Properties']['PolicyDocument']['Statement'] as Record<string, any>[];
    const s3 = statements.filter(
      (s) =>
        String(s['Action']).startsWith('s3:') ||
        (Array.isArray(s['Action']) && s['Action'][0].startsWith('s3:')),
    );
    expect(s3.length).toBeGreaterThan(0);
    for (const s of s3) {
      const text = JSON.stringify(s['Resource']);
      expect(text).toContain('LakeArtifacts');
      const actions = JSON.stringify(s['Action']);
      if (actions.includes('ListBucket')) expect(s['Condition']).toEqual({ StringLike: { 's3:prefix': ['data/*'] } });
      else if (actions.includes('PutObject')) expect(text).toContain('/models/*');
      else expect(text).toContain('/data/*');
    }
  });

  it("fails if SageMaker's training log group is not the kit's, with the retention and the logs key", () => {
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup')).filter(
      (g) => g['Properties']['LogGroupName'] === '/aws/sagemaker/TrainingJobs',
    );
    expect(config.logs.sagemakerTrainingLogGroup).toBe('create');
    expect(groups).toHaveLength(1);
    expect(groups[0]!['Properties']['RetentionInDays']).toBe(config.logs.retentionDays);
    expect(JSON.stringify(groups[0]!['Properties']['KmsKeyId'])).toMatch(/LogsKey/);
  });

  it('passes the training limits and default instance type to the validate function', () => {
    const functions = Object.values(t.findResources('AWS::Lambda::Function')).filter(
      (f) => f['Properties']['Environment']?.['Variables']?.['TRAINING_LIMITS'] !== undefined,
    );
    expect(functions).toHaveLength(1);
    expect(JSON.parse(functions[0]!['Properties']['Environment']['Variables']['TRAINING_LIMITS'])).toEqual({
      defaultInstanceType: config.pipelines.trainingInstanceType,
      ...config.pipelines.trainingLimits,
    });
  });

  it('passes the lake catalog to the validate function', () => {
    const fns = Object.values(t.findResources('AWS::Lambda::Function')).map((f) => f['Properties']);
    const validate = fns.find((f) => f['Environment']?.['Variables']?.['LAKE_TABLES'] !== undefined)!;
    const tables = JSON.stringify(validate['Environment']['Variables']['LAKE_TABLES']);
    expect(tables).toContain('winequality_red_raw');
    expect(validate['Environment']['Variables']['LAKE_DATABASE']).toBe(config.dataLake.glueDatabaseName);
  });

  it('validates by an Athena aggregate: a 15-minute function of the house size (not 1 GB to hold objects), granted the lake workgroup only', () => {
    const fns = t.findResources('AWS::Lambda::Function');
    const [, validate] = Object.entries(fns).find(
      ([, f]) => f['Properties']['Environment']?.['Variables']?.['LAKE_TABLES'] !== undefined,
    )!;
    const props = validate['Properties'];
    expect(props['Timeout']).toBe(15 * 60);
    // The house workflow size, as "Stage training data" has: no longer raised to 1 GB to hold objects.
    const stage = Object.values(fns).find((f) => f['Properties']['Environment']?.['Variables']?.['SPLITS_BUCKET'] !== undefined)!;
    expect(props['MemorySize']).toBe(stage['Properties']['MemorySize']);
    expect(props['Environment']['Variables']['ATHENA_WORKGROUP']).toBe(`mlops-${config.name}`);
    expect(states[S.validate]!['TimeoutSeconds']).toBeGreaterThanOrEqual(15 * 60);
    const roleId = props['Role']['Fn::GetAtt'][0] as string;
    const statements = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p['Properties']['Roles']).includes(roleId))
      .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Record<string, any>[]);
    const athena = statements.filter((st) => [st['Action']].flat().some((a: string) => a.startsWith('athena:')));
    expect(athena.flatMap((st) => [st['Action']].flat()).sort()).toEqual([
      'athena:GetQueryExecution',
      'athena:GetQueryResults',
      'athena:StartQueryExecution',
      'athena:StopQueryExecution',
    ]);
    for (const st of athena) expect(JSON.stringify(st['Resource'])).toMatch(/workgroup\/mlops-/);
    const glue = statements.filter((st) => [st['Action']].flat().some((a: string) => a.startsWith('glue:')));
    expect(glue.flatMap((st) => [st['Action']].flat()).every((a: string) => /^glue:Get/.test(a))).toBe(true);
  });

  it('lets the validate function read and list only the feature store prefix of the curated bucket', () => {
    const fns = t.findResources('AWS::Lambda::Function');
    const [validateId, validate] = Object.entries(fns).find(
      ([, f]) => f['Properties']['Environment']?.['Variables']?.['LAKE_TABLES'] !== undefined,
    )!;
    expect(JSON.stringify(validate['Properties']['Environment']['Variables']['FEATURE_STORE_LOCATION'])).toMatch(
      /LakeCurated.*\/features\//,
    );
    const roleId = validate['Properties']['Role']['Fn::GetAtt'][0] as string;
    const policies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p['Properties']['Roles']).includes(roleId),
    );
    const curated = policies
      .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Record<string, any>[])
      .filter((st) => JSON.stringify(st['Resource']).includes('LakeCurated'));
    expect(validateId).toBeTruthy();
    expect(curated.map((st) => [st['Action']].flat().join(',')).sort()).toEqual([
      's3:GetBucketLocation,s3:ListBucket',
      's3:GetObject',
    ]);
    for (const st of curated) {
      if (st['Action'] === 's3:GetObject') expect(JSON.stringify(st['Resource'])).toContain('/features/*');
      else expect(st['Condition']).toEqual({ StringLike: { 's3:prefix': ['features/*'] } });
    }
  });

  it('hands the plan\'s row check to "Stage training data"', () => {
    expect(states[S.stage]!['Parameters']['check.$']).toBe('$.plan.check');
  });

  it('stages the split UNLOADs\' Parquet parts: the machine writes splits/, the stage function reads and lists only there', () => {
    // Only the folder of the export attempt that succeeded, never a failed attempt's parts.
    expect(states[S.stage]!['Parameters']).toMatchObject({
      train: {
        'unloaded.$': "States.Format('{}{}/', $.plan.locations.splits.train, $.exports.train.attempt)",
        'channel.$': '$.plan.locations.train',
      },
      holdout: {
        'unloaded.$': "States.Format('{}{}/', $.plan.locations.splits.holdout, $.exports.holdout.attempt)",
        'channel.$': '$.plan.locations.holdout',
      },
    });
    const statementsOf = (roleId: string) =>
      Object.values(t.findResources('AWS::IAM::Policy'))
        .filter((p) => JSON.stringify(p['Properties']['Roles']).includes(roleId))
        .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Record<string, any>[])
        .filter((st) => JSON.stringify(st['Resource']).includes('LakeCurated') && JSON.stringify(st).includes('splits/'));
    const fns = t.findResources('AWS::Lambda::Function');
    const [, stage] = Object.entries(fns).find(([, f]) => f['Properties']['Environment']?.['Variables']?.['SPLITS_BUCKET'] !== undefined)!;
    const stageStatements = statementsOf(stage['Properties']['Role']['Fn::GetAtt'][0] as string);
    expect(stageStatements.map((st) => [st['Action']].flat().join(',')).sort()).toEqual([
      's3:GetBucketLocation,s3:ListBucket',
      's3:GetObject',
    ]);
    for (const st of stageStatements) {
      if (st['Action'] === 's3:GetObject') expect(JSON.stringify(st['Resource'])).toContain('/splits/*');
      else expect(st['Condition']).toEqual({ StringLike: { 's3:prefix': ['splits/*'] } });
    }
    // The machine's role: Athena writes the UNLOAD parts with its credentials, under splits/ only.
    const [machineDef] = Object.values(t.findResources('AWS::StepFunctions::StateMachine'));
    const machineRole = machineDef!['Properties']['RoleArn']['Fn::GetAtt'][0] as string;
    const machine = statementsOf(machineRole).flatMap((st) => [st['Action']].flat() as string[]);
    expect(machine).toEqual(expect.arrayContaining(['s3:PutObject', 's3:GetObject', 's3:ListBucket']));
    for (const st of allowStatements(t)) expect(st.actions.some((a) => a.endsWith(':*') || a === '*')).toBe(false);
  });
});

describe('trainer image asset', () => {
  const { stage, training } = environments.staging;
  /** The trainer's image as the stage's asset manifest lists it, and the context the asset staged. */
  const trainerImage = () => {
    const manifest = readdirSync(stage.outdir).find(
      (f) => f.startsWith(training.artifactId) && f.endsWith('.assets.json'),
    )!;
    const images = JSON.parse(readFileSync(join(stage.outdir, manifest), 'utf8'))['dockerImages'] as Record<
      string,
      any
    >;
    const [image] = Object.values(images);
    return { image, context: resolve(stage.outdir, image.source.directory) };
  };

  it("is named by its content hash in CDK's immutable-tag assets repository (a tag that names one image)", () => {
    const text = JSON.stringify(environments.staging.trainingTemplate.toJSON());
    const tags = [...text.matchAll(/container-assets-[\w-]+:([^"\\]+)/g)].map((m) => m[1]!);
    expect(tags.length).toBeGreaterThan(0);
    expect(tags.filter((tag) => !/^[0-9a-f]{64}$/.test(tag))).toEqual([]);
  });

  it('is built from lib/trainer/Dockerfile for x86-64, with a context of the manifests and the lib/ directories its build reaches', () => {
    const { image, context } = trainerImage();
    expect(image.source).toMatchObject({ dockerFile: 'lib/trainer/Dockerfile', platform: 'linux/amd64' });
    expect(existsSync(join(context, 'lib/trainer/Dockerfile'))).toBe(true);
    expect(existsSync(join(context, 'package-lock.json'))).toBe(true);
    // Every file the Dockerfile copies from its context is in the context the asset stages.
    const sources = contextSources(readDockerfile('lib/trainer/Dockerfile'));
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((src) => !existsSync(join(context, src)))).toEqual([]);
    // Only the manifests and the lib/ directories the build reaches are in the context and its hash.
    expect(readdirSync(context).sort()).toEqual([
      '.dockerignore',
      'lib',
      'package-lock.json',
      'package.json',
      'tsconfig.json',
    ]);
    expect(readdirSync(join(context, 'lib')).map((d) => `lib/${d}`).sort()).toEqual([...TRAINER_CONTEXT].sort());
  });

  it("bundles the trainer from the staged context alone (the Dockerfile's build step, without Docker)", { timeout: 120_000 }, () => {
    const built = bundleInContext(trainerImage().context, 'lib/trainer/Dockerfile');
    expect(built.failure).toBeUndefined();
    expect(built.written['out/train.mjs']).toBeGreaterThan(50_000);
  });
});

describe.each(ENVIRONMENT_NAMES)('batch inference (%s)', (name) => {
  const t = environments[name].batchTemplate;
  const config = resolveEnvironment(name, { env: {} });
  const definition = definitionOf(t);
  const states = allStates(definition);
  const S = BATCH_STATES;

  it('passes asl-validator as JSONPath', () => {
    expect(validateAsl(definition)).toEqual({ isValid: true, errors: [] });
  });

  it('plans, predicts the objects under the input prefix in a Distributed Map (ItemReader, ItemBatcher, ResultWriter), then UNLOADs Parquet', () => {
    expect(definition['StartAt']).toBe(S.plan);
    expect(Object.keys(states).sort()).toEqual(Object.values(S).sort());
    expect(states[S.map]).toMatchObject({
      Type: 'Map',
      ItemReader: {
        Resource: 'arn:aws:states:::s3:listObjectsV2',
        Parameters: { 'Bucket.$': '$.plan.bucket', 'Prefix.$': '$.plan.prefix' },
      },
      ItemSelector: { 'bucket.$': '$.plan.bucket', 'key.$': '$$.Map.Item.Value.Key', 'index.$': '$$.Map.Item.Index' },
      ItemBatcher: {
        MaxItemsPerBatch: config.batchInference.objectsPerBatch,
        BatchInput: { 'model_uri.$': '$.plan.model_uri', 'staging_prefix.$': '$.plan.staging_prefix' },
      },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' }, StartAt: S.predict },
      MaxConcurrency: config.batchInference.maxConcurrency,
      ResultWriter: {
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: expect.anything(), Prefix: BATCH_RESULTS_PREFIX },
      },
      ResultPath: '$.predicted',
      Next: S.write,
    });
    // CDK leaves out a tolerance of 0, which is Step Functions' default.
    expect(states[S.map]!['ToleratedFailurePercentage'] ?? 0).toBe(config.batchInference.toleratedFailurePercentage);
    // The object list is never in the state: no ItemsPath, and the plan carries only the prefix.
    expect(states[S.map]!['ItemsPath']).toBeUndefined();
    expect(states[S.predict]!['Parameters']).toEqual({
      'model_uri.$': '$.BatchInput.model_uri',
      'staging_prefix.$': '$.BatchInput.staging_prefix',
      'items.$': '$.Items',
    });
    expect(states[S.write]).toMatchObject({
      Resource: 'arn:aws:states:::athena:startQueryExecution.sync',
      // each attempt into its own folder; the summary names the one that succeeded
      Parameters: { 'QueryString.$': "States.Format('{}attempt-{}-{}{}', $.plan.query.head, $$.Execution.RedriveCount, $$.State.RetryCount, $.plan.query.tail)", WorkGroup: `mlops-${name}` },
      Next: S.summarize,
    });
    expect(states[S.summarize]!['Parameters']['output_location.$']).toBe("States.Format('{}{}/', $.plan.output_location, $.written.attempt)");
  });

  it('takes the SQL path when the plan says so: a row check, then one UNLOAD; an empty or incomplete table fails before anything is written', () => {
    expect(states[S.plan]!['Next']).toBe(S.engine);
    expect(states[S.engine]).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.plan.engine', StringEquals: 'sql', Next: S.check }],
      Default: S.map,
    });
    expect(states[S.check]).toMatchObject({
      Resource: 'arn:aws:states:::athena:startQueryExecution.sync',
      Parameters: { 'QueryString.$': '$.plan.check_query', WorkGroup: `mlops-${name}` },
      Next: S.readCheck,
    });
    expect(states[S.readCheck]).toMatchObject({
      Parameters: { 'QueryExecutionId.$': '$.checked.query_execution_id', MaxResults: 2 },
      ResultSelector: {
        'row_count.$': '$.ResultSet.Rows[1].Data[0].VarCharValue',
        'incomplete.$': '$.ResultSet.Rows[1].Data[1].VarCharValue',
      },
      Next: S.gate,
    });
    expect(String(states[S.readCheck]!['Resource'])).toMatch(/states:::athena:getQueryResults"?\]?/);
    expect(states[S.gate]).toMatchObject({
      Choices: [
        { Variable: '$.check.row_count', StringEquals: '0', Next: S.empty },
        { Not: { Variable: '$.check.incomplete', StringEquals: '0' }, Next: S.incomplete },
      ],
      Default: S.predictSql,
    });
    for (const n of [S.empty, S.incomplete]) {
      expect(states[n]).toMatchObject({ Type: 'Pass', Parameters: { Error: 'DataValidationError' }, ResultPath: '$.error', Next: S.recordFailure });
    }
    expect(states[S.predictSql]).toMatchObject({
      Resource: 'arn:aws:states:::athena:startQueryExecution.sync',
      Parameters: { 'QueryString.$': "States.Format('{}attempt-{}-{}{}', $.plan.query.head, $$.Execution.RedriveCount, $$.State.RetryCount, $.plan.query.tail)" },
      Next: S.summarizeSql,
    });
    expect(states[S.summarizeSql]!['Parameters']['output_location.$']).toBe("States.Format('{}{}/', $.plan.output_location, $.written.attempt)");
    for (const n of [S.check, S.readCheck, S.predictSql]) {
      expect(states[n]!['Catch'], n).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: S.recordFailure }]);
    }
    // The check's results are read in the lake workgroup only.
    const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p['Properties']['PolicyDocument']['Statement'] as { Action: string | string[]; Resource: unknown }[],
    );
    const reads = statements.filter((st) => [st.Action].flat().includes('athena:GetQueryResults'));
    expect(reads.length).toBeGreaterThan(0);
    for (const st of reads) expect(JSON.stringify(st.Resource)).toContain(`workgroup/mlops-${name}`);
  });

  it('lets the machine start and watch its own child executions, list the lake zones and write only batch-results/', () => {
    const role = Object.entries(t.findResources('AWS::IAM::Role')).find(([id]) => /BatchInference[A-Za-z0-9]*Role/.test(id));
    expect(role, 'the state machine role').toBeDefined();
    const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p['Properties']['PolicyDocument']['Statement'] as { Action: string | string[]; Resource: unknown }[],
    );
    const actions = (a: string | string[]) => (Array.isArray(a) ? a : [a]);
    const text = (r: unknown) => JSON.stringify(r);
    const withAction = (a: string) => statements.filter((st) => actions(st.Action).includes(a));
    expect(withAction('states:StartExecution').map((st) => text(st.Resource)).join()).toContain('BatchInference');
    expect(withAction('states:DescribeExecution').length).toBeGreaterThan(0);
    // The ResultWriter's writes are confined to the results prefix; no statement lists every bucket.
    const puts = withAction('s3:PutObject').map((st) => text(st.Resource));
    expect(puts.some((r) => r.includes(`/${BATCH_RESULTS_PREFIX}*`))).toBe(true);
    expect(puts.every((r) => !r.endsWith('/*"]') && r !== '"*"')).toBe(true);
    expect(withAction('s3:ListBucket').every((st) => text(st.Resource) !== '"*"')).toBe(true);
  });

  it('times out, retries and catches every Task', () => {
    for (const [n, s] of Object.entries(states).filter(([, s]) => s['Type'] === 'Task')) {
      expect(s['TimeoutSeconds'], n).toBeGreaterThan(0);
      expect(s['Retry']?.[0]?.['BackoffRate'], n).toBe(2);
    }
    for (const n of [S.plan, S.map, S.write]) {
      expect(states[n]!['Catch'], n).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: S.recordFailure },
      ]);
    }
    expect(states[S.failed]).toMatchObject({ Type: 'Fail', ErrorPath: '$.failure.error' });
  });

  it('stages predictions in a JSON table partitioned by execution with partition projection', () => {
    t.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: config.dataLake.glueDatabaseName,
      TableInput: Match.objectLike({
        Name: BATCH_STAGING_TABLE,
        PartitionKeys: [{ Name: 'execution', Type: 'string' }],
        Parameters: Match.objectLike({
          'projection.enabled': 'true',
          'projection.execution.type': 'injected',
        }),
        StorageDescriptor: Match.objectLike({
          SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
        }),
      }),
    });
  });
});

/** A window over a whole table: Athena computes it on one worker (issue 19). */
const GLOBAL_ROW_NUMBER = /row_number\s*\(\s*\)\s*over\s*\(\s*order\s+by/i;

describe.each(ENVIRONMENT_NAMES)('the SQL the pipeline machines run (%s)', (name) => {
  it('numbers no rows over a whole table (row_number() OVER (ORDER BY …))', () => {
    const { trainingTemplate, batchTemplate } = environments[name];
    const definitions = [trainingTemplate, batchTemplate].flatMap((t) =>
      Object.values(t.findResources('AWS::StepFunctions::StateMachine')).map((m) =>
        JSON.stringify(renderDefinitionString(m['Properties']['DefinitionString'])),
      ),
    );
    expect(definitions.length).toBeGreaterThanOrEqual(2);
    expect(definitions.join('\n')).toMatch(/StartQueryExecution|QueryString/);
    for (const d of definitions) expect(d).not.toMatch(GLOBAL_ROW_NUMBER);
  });
});

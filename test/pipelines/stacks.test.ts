import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { renderDefinitionString, validateAsl } from '../../lib/asl';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { METRIC_DEFINITIONS } from '../../lib/trainer/contract';
import { BATCH_STAGING_TABLE, BATCH_STATES } from '../../stacks/batch-inference-stack';
import { DEFAULT_SCHEDULED_INPUT, TRAINING_STATES } from '../../stacks/training-pipeline-stack';
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

  it('builds features with Athena UNLOAD queries in the lake workgroup (.sync)', () => {
    for (const [state, path] of [
      [S.features, '$.plan.queries.features'],
      [S.exportTrain, '$.plan.queries.train'],
      [S.exportHoldout, '$.plan.queries.holdout'],
      [S.baselineCounts, '$.plan.queries.baseline'],
    ] as const) {
      expect(states[state]).toMatchObject({
        Resource: 'arn:aws:states:::athena:startQueryExecution.sync',
        Parameters: {
          'QueryString.$': path,
          WorkGroup: `mlops-${name}`,
          QueryExecutionContext: { Database: config.dataLake.glueDatabaseName },
        },
      });
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
    expect(p['InputDataConfig'][0]).toEqual({
      ChannelName: 'train',
      ContentType: 'text/csv',
      DataSource: {
        S3DataSource: {
          'S3Uri.$': '$.plan.locations.train',
          S3DataType: 'S3Prefix',
          S3DataDistributionType: 'FullyReplicated',
        },
      },
    });
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

  it('passes the registry URL and auth to the evaluate and register functions and grants them the registry', () => {
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

  it('scopes the training job role to the run prefix of the artifacts bucket', () => {
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
      if (!JSON.stringify(s['Action']).includes('ListBucket')) expect(text).toContain('/runs/*');
      else expect(s['Condition']).toEqual({ StringLike: { 's3:prefix': ['runs/*'] } });
    }
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
});

describe('trainer image asset', () => {
  const { stage, training } = environments.staging;

  it('is built from lib/trainer/Dockerfile for x86-64, with a context of the manifests and lib/ only', () => {
    const manifest = readdirSync(stage.outdir).find(
      (f) => f.startsWith(training.artifactId) && f.endsWith('.assets.json'),
    )!;
    const images = JSON.parse(readFileSync(join(stage.outdir, manifest), 'utf8'))['dockerImages'] as Record<
      string,
      any
    >;
    const [image] = Object.values(images);
    expect(image.source).toMatchObject({ dockerFile: 'lib/trainer/Dockerfile', platform: 'linux/amd64' });
    const context = resolve(stage.outdir, image.source.directory);
    expect(existsSync(join(context, 'lib/trainer/Dockerfile'))).toBe(true);
    expect(existsSync(join(context, 'package-lock.json'))).toBe(true);
    // .dockerignore keeps everything the images do not copy out of the context and the hash.
    expect(readdirSync(context).sort()).toEqual([
      '.dockerignore',
      'lib',
      'package-lock.json',
      'package.json',
      'tsconfig.json',
    ]);
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

  it('plans, predicts each object in an inline Map, then UNLOADs Parquet', () => {
    expect(definition['StartAt']).toBe(S.plan);
    expect(Object.keys(states).sort()).toEqual(Object.values(S).sort());
    expect(states[S.map]).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.items',
      ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: S.predict },
      MaxConcurrency: 8,
      Next: S.write,
    });
    expect(states[S.map]!['ItemReader']).toBeUndefined();
    expect(states[S.write]).toMatchObject({
      Resource: 'arn:aws:states:::athena:startQueryExecution.sync',
      Parameters: { 'QueryString.$': '$.plan.query', WorkGroup: `mlops-${name}` },
      Next: S.summarize,
    });
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

import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { describe, expect, it } from 'vitest';
import { renderDefinitionString, validateAsl } from '../../lib/asl';
import { FEATURE_FLAGS } from '../../lib/config';
import { Binding } from '../../lib/constructs/binding';
import { MlopsFunction, PROJECT_ROOT } from '../../lib/constructs/mlops-function';
import { DefinitionError, MlopsStateMachine } from '../../lib/constructs/mlops-state-machine';

const ECHO = `${PROJECT_ROOT}test/fixtures/lambdas/echo.ts`;

function build(define: (stack: Stack) => void): Template {
  const app = new App({ context: FEATURE_FLAGS });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'us-east-1' } });
  define(stack);
  return Template.fromStack(stack);
}

function definitionOf(t: Template): Record<string, any> {
  const [machine] = Object.values(t.findResources('AWS::StepFunctions::StateMachine'));
  return renderDefinitionString(machine!['Properties']['DefinitionString']);
}

describe('MlopsFunction', () => {
  let fn!: MlopsFunction;
  const t = build((stack) => {
    fn = new MlopsFunction(stack, 'Echo', { entry: ECHO, description: 'echo' });
    const bucket = new s3.Bucket(stack, 'Data');
    const table = new dynamodb.TableV2(stack, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    });
    fn.bind('DATA_BUCKET', Binding.of(bucket.bucketName, (g) => bucket.grantRead(g))).bind(
      'TABLE_NAME',
      Binding.table(table, { actions: ['dynamodb:PutItem'] }),
    );
  });

  it('fixes runtime, architecture, tracing, logging and source maps', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
    });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    expect(fn.function.runtime.name).toBe('nodejs24.x');
  });

  it('binds a name together with exactly the access asked for', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          DATA_BUCKET: { Ref: Match.stringLikeRegexp('Data') },
          TABLE_NAME: Match.anyValue(),
        }),
      },
    });
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('s3:GetObject*');
    expect(policies).not.toContain('s3:PutObject');
    expect(policies).toContain('dynamodb:PutItem');
    expect(policies).not.toContain('dynamodb:GetItem');
  });

  it('fails if a bound name is not an environment variable name', () => {
    expect(() => fn.bind('DATA-BUCKET', Binding.of('x', () => undefined))).toThrow(
      'an environment variable name must be letters, digits and _, but "DATA-BUCKET" was provided',
    );
  });
});

describe('MlopsStateMachine', () => {
  const pipeline = (stack: Stack) => {
    const fn = new MlopsFunction(stack, 'Step', { entry: ECHO, description: 'step' });
    const first = new tasks.LambdaInvoke(stack, 'First step', { lambdaFunction: fn.function });
    const inMap = new tasks.LambdaInvoke(stack, 'Per item', { lambdaFunction: fn.function });
    const timed = new tasks.LambdaInvoke(stack, 'Timed step', {
      lambdaFunction: fn.function,
      taskTimeout: sfn.Timeout.duration(Duration.seconds(42)),
    });
    const map = new sfn.Map(stack, 'Each item', { itemsPath: '$.items' }).itemProcessor(inMap);
    const parallel = new sfn.Parallel(stack, 'Both').branch(timed).branch(new sfn.Pass(stack, 'Nothing'));
    return first.next(map).next(parallel);
  };

  const t = build((stack) => {
    new MlopsStateMachine(stack, 'Machine', {
      definition: pipeline(stack),
      defaultTaskTimeout: Duration.minutes(5),
    });
  });
  const definition = definitionOf(t);

  it('gives every Task a timeout, including inside Map and Parallel, and keeps explicit ones', () => {
    expect(definition['States']['First step']['TimeoutSeconds']).toBe(300);
    expect(definition['States']['Each item']['ItemProcessor']['States']['Per item']['TimeoutSeconds']).toBe(
      300,
    );
    expect(definition['States']['Both']['Branches'][0]['States']['Timed step']['TimeoutSeconds']).toBe(42);
    expect(
      definition['States']['Both']['Branches'][1]['States']['Nothing']['TimeoutSeconds'],
    ).toBeUndefined();
  });

  it('is a logged, traced Standard workflow with an execution timeout', () => {
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
    expect(definition['TimeoutSeconds']).toBe(24 * 3600);
    expect(definition['QueryLanguage']).toBe('JSONPath');
  });

  it('renders a definition asl-validator accepts', () => {
    expect(validateAsl(definition)).toEqual({ isValid: true, errors: [] });
  });

  it('fails if a state uses JSONata', () => {
    expect(() =>
      build((stack) => {
        const jsonata = sfn.Pass.jsonata(stack, 'Compute', { outputs: { x: '{% 1 + 1 %}' } });
        new MlopsStateMachine(stack, 'Machine', { definition: jsonata });
      }),
    ).toThrow(DefinitionError);
  });
});

describe('asl-validator', () => {
  it('rejects a definition whose transition has no target (the check is live)', () => {
    const bad = { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Missing' } } };
    const result = validateAsl(bad);
    expect(result.isValid).toBe(false);
    expect(result.errors.join(' ')).toMatch(/Missing/);
  });
});

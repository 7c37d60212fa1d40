/**
 * A small stage built with the kit's own constructs, synthesized once per test file: what the
 * local platform must bring up from any assembly, independent of which stacks the kit has.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy, Stack, Stage } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { FEATURE_FLAGS } from '../../../lib/config';
import { Binding } from '../../../lib/constructs/binding';
import { MlopsApi } from '../../../lib/constructs/mlops-api';
import { MlopsFunction, PROJECT_ROOT } from '../../../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../../../lib/constructs/mlops-state-machine';
import { declareServing } from '../../../lib/constructs/platform-facts';
import { PREDICTION_ROUTES } from '../../../lib/constructs/prediction-api';
import { promotionEventPattern } from '../../../lib/constructs/canary-rollout';

export const FIXTURE_STAGE = 'mlops-fixture';

export function synthFixture(options: { unsupportedTask?: boolean } = {}): string {
  const outdir = mkdtempSync(join(tmpdir(), 'mlops-fixture-'));
  const app = new App({ outdir, context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true } });
  const stage = new Stage(app, FIXTURE_STAGE, { env: { account: '000000000000', region: 'us-east-1' } });
  const stack = new Stack(stage, 'Platform');

  const bucket = new s3.Bucket(stack, 'Data', { removalPolicy: RemovalPolicy.DESTROY });
  const results = new s3.Bucket(stack, 'Results', { removalPolicy: RemovalPolicy.DESTROY });
  const table = new dynamodb.TableV2(stack, 'Table', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
  });
  const db = new glue.CfnDatabase(stack, 'Db', {
    catalogId: stack.account,
    databaseInput: { name: 'fixture_db' },
  });
  const t = new glue.CfnTable(stack, 'Rows', {
    catalogId: stack.account,
    databaseName: 'fixture_db',
    tableInput: {
      name: 'rows',
      tableType: 'EXTERNAL_TABLE',
      parameters: { classification: 'csv', 'skip.header.line.count': '1' },
      storageDescriptor: {
        location: `s3://${bucket.bucketName}/data/`,
        columns: [
          { name: 'id', type: 'int' },
          { name: 'score', type: 'double' },
        ],
        inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
        outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
        serdeInfo: {
          serializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
          parameters: { 'field.delim': ',' },
        },
      },
    },
  });
  t.addResourceDependency(db);
  new athena.CfnWorkGroup(stack, 'WorkGroup', {
    name: 'fixture-wg',
    workGroupConfiguration: {
      enforceWorkGroupConfiguration: true,
      bytesScannedCutoffPerQuery: 10_000_000,
      resultConfiguration: { outputLocation: `s3://${results.bucketName}/results/` },
    },
  });

  const fn = new MlopsFunction(stack, 'Steps', {
    entry: `${PROJECT_ROOT}test/fixtures/lambdas/steps.ts`,
    description: 'steps',
  });
  fn.bind('DATA_BUCKET', Binding.of(bucket.bucketName, (g) => bucket.grantRead(g))).bind(
    'TABLE_NAME',
    Binding.of(table.tableName, (g) => table.grantReadWriteData(g)),
  );

  const api = new MlopsApi(stack, 'Api', {
    description: 'fixture',
    auth: 'none',
    throttleRateLimit: 10,
    throttleBurstLimit: 10,
  });
  api.addLambdaRoute('/hello/{proxy+}', fn.function, ['GET']);

  const count = new tasks.LambdaInvoke(stack, 'Count objects', {
    lambdaFunction: fn.function,
    payload: sfn.TaskInput.fromObject({ action: 'count' }),
    payloadResponseOnly: true,
    resultPath: '$.count',
  });
  const query = new tasks.AthenaStartQueryExecution(stack, 'Sum scores', {
    queryString: 'SELECT count(*) AS n, sum(score) AS total FROM fixture_db.rows',
    workGroup: 'fixture-wg',
    integrationPattern: sfn.IntegrationPattern.RUN_JOB,
    resultPath: '$.query',
  });
  const results_ = new tasks.AthenaGetQueryResults(stack, 'Read sums', {
    queryExecutionId: sfn.JsonPath.stringAt('$.query.QueryExecution.QueryExecutionId'),
    resultSelector: { 'n.$': '$.ResultSet.Rows[1].Data[0].VarCharValue' },
    resultPath: '$.sums',
  });
  const flaky = new tasks.LambdaInvoke(stack, 'Flaky step', {
    lambdaFunction: fn.function,
    payload: sfn.TaskInput.fromObject({ action: 'flaky', key: statesFormatKey() }),
    payloadResponseOnly: true,
  }).addRetry({ errors: ['FlakyError'], maxAttempts: 3, interval: Duration.seconds(1), backoffRate: 1 });
  const each = new sfn.Map(stack, 'Each item', {
    itemsPath: '$.count.items',
    itemSelector: { 'item.$': '$$.Map.Item.Value', 'execution.$': '$$.Execution.Name' },
    resultPath: '$.mapped',
  }).itemProcessor(flaky);
  const failing = new tasks.LambdaInvoke(stack, 'Failing step', {
    lambdaFunction: fn.function,
    payload: sfn.TaskInput.fromObject({ action: 'fail' }),
    resultPath: '$.never',
  });
  const recorded = new sfn.Pass(stack, 'Record failure', {
    resultPath: '$.recovered',
    result: sfn.Result.fromBoolean(true),
  });
  failing.addCatch(recorded, { resultPath: '$.error' });
  const done = new sfn.Succeed(stack, 'Done');
  const empty = new sfn.Fail(stack, 'No data', { error: 'NoData', cause: 'the lake has no rows' });

  let definition: sfn.IChainable = count
    .next(query)
    .next(results_)
    .next(
      new sfn.Choice(stack, 'Any rows?')
        .when(sfn.Condition.stringEquals('$.sums.n', '0'), empty)
        .otherwise(each.next(failing)),
    );
  recorded.next(done);
  failing.next(done);
  if (options.unsupportedTask) {
    const ecs = new sfn.CustomState(stack, 'Run container', {
      stateJson: {
        Type: 'Task',
        Resource: 'arn:aws:states:::ecs:runTask.sync',
        Parameters: { Cluster: 'x' },
      },
    });
    definition = ecs.next(new sfn.Succeed(stack, 'After container'));
  }
  new MlopsStateMachine(stack, 'Pipeline', { definition });
  // As the kit's stage does: the local platform serves models on the routes this declares.
  const bus = new events.EventBus(stack, 'Bus');
  declareServing(bus, { namespace: 'seldon', routes: PREDICTION_ROUTES, promotion: promotionEventPattern() });
  app.synth();
  return outdir;
}

/** `States.Format('{}-{}', execution, item)`: a key unique per execution and item. */
function statesFormatKey(): string {
  return sfn.JsonPath.format('{}-{}', sfn.JsonPath.stringAt('$.execution'), sfn.JsonPath.stringAt('$.item'));
}

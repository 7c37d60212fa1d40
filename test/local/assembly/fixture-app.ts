/**
 * A small CDK app shaped like the kit's platform, synthesized in-process by the local-runtime tests:
 * a data stack (bucket, table, Glue database and CSV table, Athena workgroup, an export) and a
 * pipeline stack that imports from it (two Lambdas and a JSONPath state machine with Lambda,
 * Athena `.sync`, Choice, Map, Retry and Catch).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnOutput, Duration, Fn, RemovalPolicy, Stack, Stage, type StageProps } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

export const FIXTURE = {
  stage: 'Local',
  account: '000000000000',
  region: 'us-east-1',
  database: 'mlops_local',
  table: 'wine',
  workGroup: 'mlops-local',
  cutoffBytes: 10_000_000,
} as const;

class DataStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Lake', { removalPolicy: RemovalPolicy.DESTROY });
    this.table = new dynamodb.Table(this, 'Runs', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const db = new glue.CfnDatabase(this, 'Catalog', {
      catalogId: this.account,
      databaseInput: { name: FIXTURE.database },
    });
    const table = new glue.CfnTable(this, 'WineTable', {
      catalogId: this.account,
      databaseName: FIXTURE.database,
      tableInput: {
        name: FIXTURE.table,
        tableType: 'EXTERNAL_TABLE',
        parameters: { 'skip.header.line.count': '1', classification: 'csv' },
        partitionKeys: [{ name: 'batch', type: 'string' }],
        storageDescriptor: {
          location: `s3://${this.bucket.bucketName}/raw/wine/`,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
            parameters: { 'field.delim': ';' },
          },
          columns: [
            { name: 'alcohol', type: 'double' },
            { name: 'quality', type: 'int' },
          ],
        },
      },
    });
    table.node.addDependency(db);
    new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: FIXTURE.workGroup,
      workGroupConfiguration: {
        bytesScannedCutoffPerQuery: FIXTURE.cutoffBytes,
        enforceWorkGroupConfiguration: true,
        resultConfiguration: { outputLocation: `s3://${this.bucket.bucketName}/athena-results/` },
      },
    });
    new CfnOutput(this, 'LakeBucketName', { value: this.bucket.bucketName, exportName: 'LakeBucketName' });
  }
}

const FLAKY_CODE = 'exports.handler = async (e) => e;';

class PipelineStack extends Stack {
  readonly machine: sfn.StateMachine;

  constructor(scope: Construct, id: string, data: DataStack, codeDir: string) {
    super(scope, id);
    // An asset-backed function, so the reader's `aws:asset:path` handling is exercised.
    new lambda.Function(this, 'Packaged', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(codeDir),
    });
    const bucketName = Fn.importValue('LakeBucketName');
    const score = new lambda.Function(this, 'Score', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline(FLAKY_CODE),
      environment: { TABLE: data.table.tableName, BUCKET: bucketName },
    });
    const record = new lambda.Function(this, 'RecordFailure', {
      functionName: 'record-failure',
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline(FLAKY_CODE),
    });

    const query = new tasks.AthenaStartQueryExecution(this, 'CountByQuality', {
      queryString: `SELECT quality, count(*) AS n FROM ${FIXTURE.database}.${FIXTURE.table} GROUP BY quality ORDER BY quality`,
      workGroup: FIXTURE.workGroup,
      queryExecutionContext: { databaseName: FIXTURE.database },
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      resultPath: '$.query',
    });
    const results = new tasks.AthenaGetQueryResults(this, 'ReadCounts', {
      queryExecutionId: sfn.JsonPath.stringAt('$.query.QueryExecution.QueryExecutionId'),
      resultSelector: { 'rows.$': '$.ResultSet.Rows[1:]' },
      resultPath: '$.counts',
    });
    const scoreEach = new sfn.Map(this, 'ScoreEach', {
      itemsPath: '$.counts.rows',
      itemSelector: {
        'row.$': '$$.Map.Item.Value',
        'index.$': '$$.Map.Item.Index',
        'execution.$': '$$.Execution.Name',
      },
      resultPath: '$.scored',
    });
    scoreEach.itemProcessor(
      new tasks.LambdaInvoke(this, 'ScoreRow', {
        lambdaFunction: score,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
      }).addRetry({ errors: ['Flaky'], interval: Duration.seconds(1), maxAttempts: 3, backoffRate: 1 }),
    );
    const recordFailure = new tasks.LambdaInvoke(this, 'RecordTheFailure', {
      lambdaFunction: record,
      payload: sfn.TaskInput.fromObject({
        'error.$': '$.error',
        'execution.$': '$$.Execution.Id',
        'state.$': '$$.State.Name',
      }),
      resultSelector: { 'recorded.$': '$.Payload' },
      retryOnServiceExceptions: false,
    }).next(new sfn.Fail(this, 'Failed', { error: 'PipelineFailed', cause: 'see the failure record' }));
    const validate = new tasks.LambdaInvoke(this, 'Validate', {
      lambdaFunction: score,
      payload: sfn.TaskInput.fromObject({ 'mode.$': '$.mode', 'token.$': '$$.Execution.StartTime' }),
      resultSelector: { 'ok.$': '$.Payload.ok' },
      resultPath: '$.validation',
      retryOnServiceExceptions: false,
    }).addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });

    const definition = validate.next(
      new sfn.Choice(this, 'Mode')
        .when(sfn.Condition.stringEquals('$.mode', 'skip'), new sfn.Succeed(this, 'Skipped'))
        .otherwise(query.next(results).next(scoreEach).next(new sfn.Succeed(this, 'Done'))),
    );
    this.machine = new sfn.StateMachine(this, 'Training', {
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
    });
  }
}

class LocalStage extends Stage {
  constructor(scope: Construct, id: string, props: StageProps & { codeDir: string }) {
    super(scope, id, props);
    const data = new DataStack(this, 'Data');
    new PipelineStack(this, 'Pipeline', data, props.codeDir);
  }
}

/**
 * Synthesizes the fixture app into a fresh temp dir and returns the cloud assembly directory.
 * `metadata: true` sets the two context flags the CDK CLI sets, so templates carry
 * `aws:cdk:path` and `aws:asset:path` as they do under `cdk synth`; without them the reader must
 * fall back to the assembly's metadata and asset manifests.
 */
export function synthFixture(options: { metadata?: boolean } = {}): string {
  const outdir = mkdtempSync(join(tmpdir(), 'mlops-assembly-'));
  const codeDir = join(outdir, '..', `${outdir.split('/').pop()}-code`);
  mkdirSync(codeDir, { recursive: true });
  writeFileSync(join(codeDir, 'index.js'), 'exports.handler = async () => ({ packaged: true });');
  const metadata = options.metadata ?? true;
  const app = new App({
    outdir,
    context: { 'aws:cdk:enable-path-metadata': metadata, 'aws:cdk:enable-asset-metadata': metadata },
  });
  new LocalStage(app, FIXTURE.stage, {
    env: { account: FIXTURE.account, region: FIXTURE.region },
    codeDir,
  });
  app.synth();
  return outdir;
}

import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { WINE_LABEL_COLUMNS } from '../../lib/datasets/wine';
import { parseLakeTables } from '../../lib/pipelines/catalog';
import { DataLakeStack } from '../../stacks/data-lake-stack';
import { synthAll } from './synth';

const environments = synthAll();
const lakeTemplate = (name: (typeof ENVIRONMENT_NAMES)[number]): Template =>
  environments[name].templates['DataLake']!;

const DATA_BUCKETS = ['Raw', 'Curated', 'Artifacts', 'AthenaResults'];

/** The logical ids of the lake's buckets by construct id. */
function buckets(t: Template): Record<string, { id: string; resource: Record<string, any> }> {
  const out: Record<string, { id: string; resource: Record<string, any> }> = {};
  for (const [id, resource] of Object.entries(t.findResources('AWS::S3::Bucket'))) {
    const path = String(resource['Metadata']?.['aws:cdk:path'] ?? '');
    const name = path.split('/').at(-2)!;
    out[name] = { id, resource };
  }
  return out;
}

describe.each(ENVIRONMENT_NAMES)('data lake (%s)', (name) => {
  const t = lakeTemplate(name);
  const config = resolveEnvironment(name, { env: {} });
  const all = buckets(t);
  const keys = t.findResources('AWS::KMS::Key');
  const keyId = Object.keys(keys).find((id) => id.startsWith('LakeKey'))!;
  const logsKeyId = Object.keys(keys).find((id) => id.startsWith('LakeLogsKey'))!;

  it('has a rotating data key and a rotating logs key', () => {
    t.resourceCountIs('AWS::KMS::Key', 2);
    for (const key of Object.values(keys)) expect(key['Properties']['EnableKeyRotation']).toBe(true);
    expect(keyId).toBeDefined();
    expect(logsKeyId).toBeDefined();
  });

  it('lets CloudWatch Logs use the logs key only for this account and region', () => {
    const statement = keys[logsKeyId]!['Properties']['KeyPolicy']['Statement'].find(
      (s: any) => s.Sid === 'CloudWatchLogsEncryptsThisAccountsLogGroups',
    );
    expect(statement.Principal).toEqual({ Service: `logs.${config.region}.amazonaws.com` });
    expect(JSON.stringify(statement.Condition)).toContain(
      `logs:${config.region}:${config.account}:log-group:*`,
    );
  });

  it('has raw, curated, artifacts, Athena results and access-log buckets with no hard-coded names', () => {
    expect(Object.keys(all).sort()).toEqual(['AccessLogs', ...DATA_BUCKETS].sort());
    for (const { resource } of Object.values(all))
      expect(resource['Properties']['BucketName']).toBeUndefined();
  });

  it.each(DATA_BUCKETS)('encrypts %s with the lake key', (bucket) => {
    expect(all[bucket]!.resource['Properties']['BucketEncryption']).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: 'aws:kms',
            KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
          },
        },
      ],
    });
  });

  it.each(['Raw', 'Curated', 'Artifacts'])(
    'versions %s and expires its old versions per config',
    (bucket) => {
      const props = all[bucket]!.resource['Properties'];
      expect(props['VersioningConfiguration']).toEqual({ Status: 'Enabled' });
      expect(props['LifecycleConfiguration']['Rules']).toContainEqual(
        expect.objectContaining({
          NoncurrentVersionExpiration: { NoncurrentDays: config.dataLake.noncurrentVersionExpirationDays },
          Status: 'Enabled',
        }),
      );
    },
  );

  it('blocks public access and logs access on every data bucket', () => {
    for (const bucket of DATA_BUCKETS) {
      const props = all[bucket]!.resource['Properties'];
      expect(props['PublicAccessBlockConfiguration']).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(props['LoggingConfiguration']['DestinationBucketName']).toEqual({ Ref: all['AccessLogs']!.id });
    }
  });

  it('denies non-TLS and pre-TLS-1.2 requests on every bucket', () => {
    for (const { id } of Object.values(all)) {
      t.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
          ]),
        },
      });
    }
  });

  it('expires Athena results per config', () => {
    expect(all['AthenaResults']!.resource['Properties']['LifecycleConfiguration']['Rules']).toContainEqual(
      expect.objectContaining({ ExpirationInDays: config.dataLake.athenaResultsExpirationDays }),
    );
  });

  it('expires the request log (model inputs and outputs under predictions/) per config, and nothing else of the raw zone', () => {
    const rules = all['Raw']!.resource['Properties']['LifecycleConfiguration']['Rules'] as Record<string, unknown>[];
    const expiring = rules.filter((r) => r['ExpirationInDays'] !== undefined);
    expect(expiring).toEqual([
      expect.objectContaining({ Prefix: 'predictions/', ExpirationInDays: config.dataLake.requestLogExpirationDays, Status: 'Enabled' }),
    ]);
  });

  it('fails if the request log is kept forever (no expiry on predictions/ in any environment)', () => {
    const raw = JSON.stringify(all['Raw']!.resource['Properties']['LifecycleConfiguration']);
    expect(raw).toMatch(/"Prefix":"predictions\/"/);
    expect(config.dataLake.requestLogExpirationDays).toBeGreaterThanOrEqual(config.drift.maxWindowDays);
  });

  it('enforces the Athena workgroup configuration with encrypted results and the scan cutoff', () => {
    t.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: `mlops-${name}`,
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: config.athena.bytesScannedCutoffPerQuery,
        ResultConfiguration: {
          EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: { 'Fn::GetAtt': [keyId, 'Arn'] } },
          OutputLocation: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
        },
      },
    });
  });

  it('catalogs the example data as raw CSV and curated Parquet', () => {
    t.hasResourceProperties('AWS::Glue::Database', {
      DatabaseInput: { Name: config.dataLake.glueDatabaseName },
    });
    t.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: config.dataLake.glueDatabaseName,
      TableInput: Match.objectLike({
        Name: 'winequality_red_raw',
        Parameters: { classification: 'csv', 'skip.header.line.count': '1' },
        StorageDescriptor: Match.objectLike({
          SerdeInfo: Match.objectLike({ Parameters: { 'field.delim': ';' } }),
          Columns: Match.arrayWith([
            { Name: 'fixed_acidity', Type: 'double' },
            { Name: 'quality', Type: 'int' },
          ]),
        }),
      }),
    });
  });

  it('catalogs the wine labels as comma-separated CSV with a header in the raw zone', () => {
    const labels = Object.entries(t.findResources('AWS::Glue::Table')).filter(
      ([, r]) => r['Properties']['TableInput']['Name'] === 'wine_labels',
    );
    expect(labels.map(([id]) => id)).toEqual([expect.stringMatching(/^LakeWineLabelsTable/)]);
    expect(labels[0]![1]['Properties']['DatabaseName']).toBe(config.dataLake.glueDatabaseName);
    t.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Name: 'wine_labels',
        TableType: 'EXTERNAL_TABLE',
        Parameters: { classification: 'csv', 'skip.header.line.count': '1' },
        StorageDescriptor: Match.objectLike({
          Location: { 'Fn::Join': ['', ['s3://', { Ref: all['Raw']!.id }, '/datasets/wine-labels/']] },
          Columns: [
            { Name: 'wine_id', Type: 'bigint' },
            { Name: 'event_timestamp', Type: 'timestamp' },
            { Name: 'quality', Type: 'int' },
          ],
          SerdeInfo: {
            SerializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
            Parameters: { 'field.delim': ',' },
          },
        }),
      }),
    });
  });

  it("registers each CSV table's text twin (same files and SerDe, every column a string) for validation, and none for Parquet", () => {
    const tables = Object.values(t.findResources('AWS::Glue::Table')).map((r) => r['Properties']['TableInput']);
    const byName = new Map(tables.map((x) => [x['Name'] as string, x]));
    const csv = tables.filter((x) => x['Parameters']?.['classification'] === 'csv' && !String(x['Name']).endsWith('__text'));
    expect(csv.map((x) => x['Name'])).toEqual(expect.arrayContaining(['winequality_red_raw', 'wine_labels']));
    for (const table of csv) {
      const twin = byName.get(`${table['Name']}__text`);
      expect(twin, String(table['Name'])).toBeDefined();
      expect(twin['StorageDescriptor']['Location']).toEqual(table['StorageDescriptor']['Location']);
      expect(twin['StorageDescriptor']['SerdeInfo']).toEqual(table['StorageDescriptor']['SerdeInfo']);
      expect(twin['Parameters']).toEqual(table['Parameters']);
      expect(twin['StorageDescriptor']['Columns']).toEqual(
        table['StorageDescriptor']['Columns'].map((c: { Name: string }) => ({ Name: c.Name, Type: 'string' })),
      );
    }
    const parquet = tables.filter((x) => x['Parameters']?.['classification'] === 'parquet');
    for (const table of parquet) expect(byName.has(`${table['Name']}__text`)).toBe(false);
  });

  it('outputs the raw and curated bucket names (what `mlops seed` takes)', () => {
    t.hasOutput('RawBucketName', { Value: { Ref: all['Raw']!.id } });
    t.hasOutput('CuratedBucketName', { Value: { Ref: all['Curated']!.id } });
  });

  it("lists the labels table in the pipelines' LAKE_TABLES with its delimiter and header", () => {
    const batch = environments[name].templates['BatchInference']!;
    const json = Object.values(batch.findResources('AWS::Lambda::Function'))
      .map((f) => f['Properties']['Environment']?.['Variables']?.['LAKE_TABLES'])
      .find((v) => v !== undefined);
    // The bucket name is an import from this stack; stand a name in for it and read the JSON.
    const parts = json['Fn::Join'][1] as unknown[];
    const tables = parseLakeTables(parts.map((p) => (typeof p === 'string' ? p : 'raw-bucket')).join(''));
    expect(tables.find((x) => x.name === 'wine_labels')).toEqual({
      name: 'wine_labels',
      location: 's3://raw-bucket/datasets/wine-labels/',
      format: 'csv',
      delimiter: ',',
      skipHeader: 1,
      columns: WINE_LABEL_COLUMNS.map(({ name, type }) => ({ name, type })),
    });
    // The text twins are the validation's, not tables a pipeline input names.
    expect(tables.filter((x) => x.name.endsWith('__text'))).toEqual([]);
  });
});

describe('removal policies', () => {
  it('retains production buckets, key and workgroup', () => {
    const t = lakeTemplate('production');
    for (const type of ['AWS::S3::Bucket', 'AWS::KMS::Key', 'AWS::Athena::WorkGroup']) {
      for (const r of Object.values(t.findResources(type))) {
        expect(r['DeletionPolicy'], type).toBe('Retain');
        expect(r['UpdateReplacePolicy'], type).toBe('Retain');
      }
    }
    t.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it.each(['local', 'staging'] as const)(
    'lets %s be destroyed cleanly: delete policies and emptied buckets',
    (name) => {
      const t = lakeTemplate(name);
      for (const type of ['AWS::S3::Bucket', 'AWS::KMS::Key']) {
        for (const r of Object.values(t.findResources(type)))
          expect(r['DeletionPolicy'], type).toBe('Delete');
      }
      t.resourceCountIs('Custom::S3AutoDeleteObjects', 5);
      t.hasResourceProperties('AWS::Athena::WorkGroup', { RecursiveDeleteOption: true });
    },
  );

  it('moves production data to colder storage; staging keeps it in Standard', () => {
    const rules = (name: 'staging' | 'production') =>
      JSON.stringify(buckets(lakeTemplate(name))['Raw']!.resource['Properties']['LifecycleConfiguration']);
    expect(rules('production')).toContain('INTELLIGENT_TIERING');
    expect(rules('production')).toContain('GLACIER_IR');
    expect(rules('staging')).not.toContain('Transitions');
  });
});

describe('DataLake.addTable', () => {
  it('registers a Parquet table with the Parquet SerDe and formats, and no CSV parameters', () => {
    // prepare
    const stack = new DataLakeStack(new App({ context: FEATURE_FLAGS }), 'Lake', { config: resolveEnvironment('staging', { env: {} }) });
    // act
    stack.lake.addTable('Scores', {
      name: 'scores',
      description: 'scores as Parquet',
      location: 's3://bucket/scores/',
      format: 'parquet',
      columns: [{ name: 'score', type: 'double' }],
    });
    // assess
    const tables = Template.fromStack(stack).findResources('AWS::Glue::Table');
    const scores = Object.values(tables).find((r) => r['Properties']['TableInput']['Name'] === 'scores')!;
    expect(scores['Properties']['TableInput']).toMatchObject({
      Parameters: { classification: 'parquet', 'parquet.compression': 'SNAPPY' },
      StorageDescriptor: {
        Location: 's3://bucket/scores/',
        Columns: [{ Name: 'score', Type: 'double' }],
        InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
        OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
        SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
      },
    });
    expect(JSON.stringify(scores)).not.toContain('skip.header.line.count');
  });
});

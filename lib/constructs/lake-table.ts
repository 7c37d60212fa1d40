/**
 * An external table in the lake's Glue database over files in a lake bucket: CSV (with a header
 * row), Parquet (Snappy) or JSON lines, with the SerDe and input/output formats Athena and the
 * local engine read. The pipeline Lambdas see the lake's tables as `LAKE_TABLES`
 * ({@link lakeTablesJson}) instead of calling Glue at run time.
 *
 * @example
 * new LakeTable(this, 'WineRawTable', {
 *   database: lake.database,
 *   name: 'winequality_red_raw',
 *   description: 'UCI red-wine quality, as uploaded',
 *   location: `s3://${lake.raw.bucketName}/datasets/winequality-red/`,
 *   format: 'csv',
 *   columns: [{ name: 'alcohol', type: 'double' }],
 * });
 */
import { Lazy, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type { Construct } from 'constructs';
import type { LakeTable as CatalogTable } from '../pipelines/catalog';

export type LakeTableFormat = 'csv' | 'parquet' | 'json';

export interface LakeTableProps {
  /** The Glue database the table is registered in (the lake's). */
  readonly database: glue.CfnDatabase;
  /** The table name, unique in the database. */
  readonly name: string;
  readonly description: string;
  /** `s3://bucket/prefix/` of the table's files. */
  readonly location: string;
  readonly format: LakeTableFormat;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  /**
   * The CSV field delimiter.
   * @default ';' (the UCI wine files)
   */
  readonly csvDelimiter?: string;
  /**
   * Partition columns.
   * @default - none
   */
  readonly partitionKeys?: readonly { readonly name: string; readonly type: string }[];
  /**
   * Table parameters added to the format's own (partition projection, for example).
   * @default - the format's only
   */
  readonly parameters?: Readonly<Record<string, string>>;
}

const FORMATS: Record<
  LakeTableFormat,
  {
    parameters: Record<string, string>;
    inputFormat: string;
    outputFormat: string;
    serde: (props: LakeTableProps) => glue.CfnTable.SerdeInfoProperty;
  }
> = {
  csv: {
    parameters: { classification: 'csv', 'skip.header.line.count': '1' },
    inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
    outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
    serde: (p) => ({
      serializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
      parameters: { 'field.delim': p.csvDelimiter ?? ';' },
    }),
  },
  parquet: {
    parameters: { classification: 'parquet', 'parquet.compression': 'SNAPPY' },
    inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
    outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
    serde: () => ({ serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' }),
  },
  json: {
    parameters: { classification: 'json' },
    inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
    outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
    serde: () => ({ serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' }),
  },
};

export class LakeTable extends glue.CfnTable {
  constructor(scope: Construct, id: string, props: LakeTableProps) {
    if (!/^[a-z0-9_]{1,255}$/.test(props.name)) {
      throw new Error(
        `a lake table name must be lower-case letters, digits and _ (Athena's rule), but "${props.name}" was provided`,
      );
    }
    if (props.columns.length === 0) {
      throw new Error(`a lake table must have at least one column, but ${props.name} has none`);
    }
    if (props.csvDelimiter !== undefined && props.format !== 'csv') {
      throw new Error(`csvDelimiter applies to csv tables only, but ${props.name} is ${props.format}`);
    }
    const format = FORMATS[props.format];
    const databaseName = (props.database.databaseInput as glue.CfnDatabase.DatabaseInputProperty).name!;
    super(scope, id, {
      catalogId: Stack.of(scope).account,
      databaseName,
      tableInput: {
        name: props.name,
        description: props.description,
        tableType: 'EXTERNAL_TABLE',
        parameters: { ...format.parameters, ...props.parameters },
        ...(props.partitionKeys ? { partitionKeys: props.partitionKeys.map((k) => ({ ...k })) } : {}),
        storageDescriptor: {
          location: props.location,
          columns: props.columns.map((c) => ({ name: c.name, type: c.type })),
          inputFormat: format.inputFormat,
          outputFormat: format.outputFormat,
          serdeInfo: format.serde(props),
        },
      },
    });
    this.addResourceDependency(props.database);
  }
}

/**
 * Glue tables as the pipeline Lambdas' `LAKE_TABLES` (see `lib/pipelines/catalog.ts`), resolved
 * at synthesis so tables the lake gains later in the app are included.
 */
export function lakeTablesJson(scope: Construct, tables: readonly glue.CfnTable[]): string {
  const stack = Stack.of(scope);
  return Lazy.string({ produce: () => stack.toJsonString(tables.map((t) => catalogTableOf(t))) });
}

function catalogTableOf(table: glue.CfnTable): CatalogTable {
  const input = table.tableInput as glue.CfnTable.TableInputProperty;
  const sd = input.storageDescriptor as glue.CfnTable.StorageDescriptorProperty;
  const serde = (sd.serdeInfo ?? {}) as glue.CfnTable.SerdeInfoProperty;
  const serdeParams = (serde.parameters ?? {}) as Record<string, string>;
  const params = (input.parameters ?? {}) as Record<string, string>;
  const lib = serde.serializationLibrary ?? '';
  const format = /parquet/i.test(lib) ? 'parquet' : /json/i.test(lib) ? 'json' : /serde2/i.test(lib) ? 'csv' : 'other';
  return {
    name: String(input.name),
    location: String(sd.location),
    format,
    ...(serdeParams['field.delim'] ? { delimiter: serdeParams['field.delim'] } : {}),
    skipHeader: Number(params['skip.header.line.count'] ?? 0),
    columns: ((sd.columns ?? []) as glue.CfnTable.ColumnProperty[]).map((c) => ({
      name: c.name,
      type: c.type ?? 'string',
    })),
  };
}

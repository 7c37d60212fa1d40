/**
 * The lake's table catalog as the pipeline Lambdas see it: the Glue tables of the data lake,
 * rendered at synthesis into the `LAKE_TABLES` environment variable (see `lakeTablesJson` in
 * `./infra`). The Lambdas resolve a dataset name against it instead of calling Glue at run time:
 * the catalog is part of the deployed platform, a Glue client would add a permission and a network
 * call per run, and the local environment has no Glue endpoint.
 *
 * @example
 * const { LAKE_TABLES: tables } = handlerEnv({ LAKE_TABLES: lakeTablesVariable });
 * resolveDataset('winequality_red_raw', tables).location; // 's3://raw-bucket/datasets/winequality-red/'
 */
import { z } from 'zod';
import { parseS3Uri as parseUri, S3_BUCKET_NAME, type S3Uri } from '../shared/s3-uri';
import { PipelineInputError } from './errors';
import type { ObjectStore } from './objects';

const columnSchema = z.object({ name: z.string().min(1), type: z.string().min(1) });

export const lakeTableSchema = z.object({
  name: z.string().min(1),
  /** `s3://bucket/prefix/`. */
  location: z.string().regex(/^s3:\/\/[^/]+\/.*$/, 'location must be an s3:// URI'),
  format: z.enum(['csv', 'parquet', 'json', 'other']),
  /** The CSV field delimiter (LazySimpleSerDe `field.delim`). */
  delimiter: z.string().optional(),
  /** Header lines the table skips (`skip.header.line.count`). */
  skipHeader: z.number().int().nonnegative().default(0),
  columns: z.array(columnSchema).min(1),
});

export type LakeTable = z.infer<typeof lakeTableSchema>;
export type LakeColumn = z.infer<typeof columnSchema>;

/**
 * `LAKE_TABLES`, the lake's Glue tables as JSON (rendered at synthesis; see `lakeTablesJson`), for a
 * handler's environment schema: a malformed value is a deployment bug, so it fails the cold start.
 */
export const lakeTablesVariable = z.string().transform((json, ctx): LakeTable[] => {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be JSON (${(err as Error).message})` });
    return z.NEVER;
  }
  const tables = z.array(lakeTableSchema).safeParse(value);
  if (!tables.success) {
    const issue = tables.error.issues[0]!;
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `must be a list of lake tables (${issue.path.join('.')}: ${issue.message})`,
    });
    return z.NEVER;
  }
  return tables.data;
});

/** Parses a `LAKE_TABLES` value; throws naming what is wrong with it. */
export function parseLakeTables(json: string): LakeTable[] {
  return lakeTablesVariable.parse(json);
}


/** Splits `s3://bucket/key` into its parts; anything else (or a bucket S3 would refuse) is the input's mistake. */
export function parseS3Uri(uri: string, what = 'location'): S3Uri {
  const parsed = parseUri(uri);
  if (!parsed || !S3_BUCKET_NAME.test(parsed.bucket) || !uri.startsWith(`s3://${parsed.bucket}/`))
    throw new PipelineInputError(
      `${what} must be an s3://bucket/key URI, but ${JSON.stringify(uri)} was provided`,
    );
  return parsed;
}

/** Glue types the pipelines treat as numbers (features and targets must be numeric). */
export function isNumericType(type: string): boolean {
  return /^(double|float|int|integer|bigint|smallint|tinyint|decimal(\(.*\))?)$/i.test(type.trim());
}

export function isIntegerType(type: string): boolean {
  return /^(int|integer|bigint|smallint|tinyint)$/i.test(type.trim());
}

const withSlash = (s: string) => (s.endsWith('/') ? s : `${s}/`);

/**
 * The table a dataset names: a Glue table name, or an `s3://` prefix that is a table's location
 * (the features step queries a table with Athena, so a prefix must be registered as one first).
 */
export function resolveDataset(dataset: string, tables: readonly LakeTable[]): LakeTable {
  if (dataset.startsWith('s3://')) {
    const table = tables.find((t) => withSlash(t.location) === withSlash(dataset));
    if (!table) {
      throw new PipelineInputError(
        `dataset ${JSON.stringify(dataset)} is not the location of a table in the lake; the features step ` +
          `queries it with Athena, so register the prefix as a Glue table (DataLake.addTable) and name the table. ` +
          `Known locations: ${tables.map((t) => t.location).join(', ') || '(none)'}`,
      );
    }
    return table;
  }
  const table = tables.find((t) => t.name === dataset);
  if (!table) {
    throw new PipelineInputError(
      `dataset must name a table of the lake or its s3:// location, but ${JSON.stringify(dataset)} was provided; ` +
        `tables are: ${tables.map((t) => t.name).join(', ') || '(none)'}`,
    );
  }
  return table;
}

/** What a step that reads the lake is given: its objects, its catalog, and the buckets it may read. */
export interface LakeAccess {
  readonly objects: ObjectStore;
  readonly tables: readonly LakeTable[];
  /** The Glue database the queries name. */
  readonly database: string;
  /** Buckets the step may read inputs from (its role could not read others). */
  readonly readableBuckets: readonly string[];
}


/**
 * What the lake-reading pipeline handlers (Validate data, Plan batch) share: the variables naming
 * the lake, and the {@link LakeAccess} their cores receive, built from the validated environment.
 *
 * @example
 * const env = handlerEnv({ ...lakeEnvShape, RAW_BUCKET: required });
 * const access = lakeAccess(env, [env.RAW_BUCKET]);
 */
import { type LakeAccess, type LakeTable, lakeTablesVariable } from '../pipelines/catalog';
import { type AwsEnv, s3Client } from './clients';
import { required } from './handler-env';
import { s3Objects } from './s3/objects';

/** The variables of a handler that reads the lake: its catalog and the database its queries name. */
export const lakeEnvShape = { LAKE_TABLES: lakeTablesVariable, LAKE_DATABASE: required };

/**
 * A lake-reading step's {@link LakeAccess} from its validated environment: S3 objects through the
 * one client factory, the catalog, and the buckets it may read.
 */
export function lakeAccess(
  env: AwsEnv & { readonly LAKE_TABLES: LakeTable[]; readonly LAKE_DATABASE: string },
  readableBuckets: readonly string[],
): LakeAccess {
  return {
    objects: s3Objects(s3Client(env)),
    tables: env.LAKE_TABLES,
    database: env.LAKE_DATABASE,
    readableBuckets,
  };
}

/**
 * The local Athena engine (DuckDB over the S3 engine's files).
 *
 * @example
 * import { AthenaEngine, catalogFromAssembly } from './lib/local/athena';
 * const athena = await AthenaEngine.start({ stateDir, catalog: catalogFromAssembly(stage) });
 */
export {
  type AthenaCatalog,
  catalogFromAssembly,
  type GlueColumn,
  type GlueTable,
  glueTableFromInput,
  localPathOf,
  type TableFormat,
  type WorkGroup,
} from './catalog';
export {
  AthenaEngine,
  type AthenaEngineOptions,
  AthenaError,
  athenaTypeOf,
  type ColumnInfo,
  type GetQueryResultsOutput,
  type QueryExecution,
  type QueryOrigin,
  type QueryState,
  type StartQueryExecutionInput,
} from './engine';
export {
  type AthenaStatement,
  checkSelect,
  parseStatement,
  QueryRefused,
  QueryRejected,
  type SelectScope,
  type TableName,
  type WriteFormat,
} from './policy';

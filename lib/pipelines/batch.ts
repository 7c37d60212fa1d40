/**
 * Batch inference cores: plan a run (validate the input, check the model loads, resolve the input
 * prefix the Distributed Map lists) and predict a batch of objects (CSV with a header, JSON Lines, or
 * Parquet), CSV and JSON Lines read as a stream of lines (never one string: an object's size is
 * bounded by S3, not by the Lambda), staging the predictions as JSON Lines under the execution's
 * partition of the staging table; one Athena UNLOAD then writes the run's predictions to the lake
 * as Parquet.
 *
 * Why stage JSON and convert with Athena: writing Parquet needs a Parquet writer, and the one the
 * kit has (DuckDB) is a native module that a bundled Lambda cannot carry; Athena writes Parquet
 * natively, and the local engine runs the same UNLOAD.
 *
 * @example
 * const plan = await planBatch({ input, execution: 'b-1' }, deps);
 * await predictBatch({ model_uri: plan.model_uri, staging_prefix: plan.staging_prefix, items: [{ bucket: plan.bucket, key: 'in/a.csv', index: 0 }] }, deps);
 */
import type { LinearModel } from '../model/format';
import { readModelFromArchive } from '../model/archive';
import { predictRow } from '../model/format';
import { CsvError, detectSeparator, listColumns, numericCell, readCsvHeader, splitRecord } from '../trainer/csv';
import { isParquetBytes, parquetBytes, parquetNumber, parquetRowGroups } from '../trainer/parquet-rows';
import { type LakeAccess, type LakeTable, parseS3Uri, resolveDataset } from './catalog';
import { DataValidationError, PipelineInputError } from './errors';
import { parseBatchInput } from './input';
import { isDataKey, type ObjectStore } from './objects';
import { type AttemptUnload, batchSqlCheckQuery, batchSqlUnloadQuery, batchUnloadQuery } from './sql';
import { catalogName } from './validate';

export interface BatchItem {
  readonly bucket: string;
  readonly key: string;
  readonly index: number;
}

export interface BatchPlan {
  readonly execution: string;
  /**
   * `sql`: the table is predicted by one Athena UNLOAD (`query`) after `check_query` finds every
   * row complete; `lambda`: the Distributed Map predicts each object, and `query` UNLOADs what it staged.
   */
  readonly engine: 'sql' | 'lambda';
  /** The SQL path's check (`row_count`, `incomplete`). @default - absent on the lambda path */
  readonly check_query?: string;
  readonly model_uri: string;
  /** The bucket and key prefix the Distributed Map's ItemReader lists (s3:listObjectsV2). */
  readonly bucket: string;
  readonly prefix: string;
  /** `s3://curated/batch-staging/execution=<name>/`. */
  readonly staging_prefix: string;
  /**
   * `<output>/<execution>/`: the Parquet predictions are unloaded into `<attempt>/` under it, one
   * folder per attempt of the UNLOAD step (Athena refuses a location an earlier attempt wrote to);
   * the execution's `summary.output_location` names the folder of the attempt that succeeded.
   */
  readonly output_location: string;
  /** The UNLOAD, cut around its attempt's folder (lib/shared/unload.ts). */
  readonly query: AttemptUnload;
}

/** `readableBuckets`: where inputs and models may be read from. */
export interface BatchPlanDeps extends LakeAccess {
  /** `s3://` prefixes predictions may be written under (the state machine's role may write there). */
  readonly outputPrefixes: readonly string[];
  /** `s3://curated/batch-staging/`: the staging table's location. */
  readonly stagingLocation: string;
  readonly stagingTable: string;
  /**
   * Buckets inputs may be listed in (the state machine's ItemReader is granted listing there only).
   * @default readableBuckets
   */
  readonly inputBuckets?: readonly string[];
}

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

async function loadModel(objects: ObjectStore, uri: string): Promise<LinearModel> {
  const { bucket, key } = parseS3Uri(uri, 'model.uri');
  return readModelFromArchive((await objects.get(bucket, key)).body, uri);
}

export async function planBatch(
  request: { readonly input: unknown; readonly execution: unknown },
  deps: BatchPlanDeps,
): Promise<BatchPlan> {
  const execution = String(request.execution ?? '');
  if (!EXECUTION_NAME.test(execution)) {
    throw new PipelineInputError(
      `the execution name must be 1-80 letters, digits, "-" or "_" (it names the run's S3 prefixes), but ${JSON.stringify(execution)} was provided`,
    );
  }
  const input = parseBatchInput(request.input);
  const readable = (uri: string, what: string) => {
    const loc = parseS3Uri(uri, what);
    if (!deps.readableBuckets.includes(loc.bucket)) {
      throw new PipelineInputError(
        `${what} is in bucket ${loc.bucket}; batch inference reads from the lake's buckets (${deps.readableBuckets.join(', ')})`,
      );
    }
    return loc;
  };
  readable(input.model.uri, 'model.uri');
  parseS3Uri(input.output, 'output');
  const outputDir = input.output.endsWith('/') ? input.output : `${input.output}/`;
  if (!deps.outputPrefixes.some((p) => outputDir.startsWith(p))) {
    throw new PipelineInputError(
      `output must be under ${deps.outputPrefixes.join(' or ')} (where batch inference may write), but ${JSON.stringify(input.output)} was provided`,
    );
  }
  let source: { bucket: string; key: string };
  let table: LakeTable | undefined;
  if ('table' in input.input) {
    table = resolveDataset(input.input.table, deps.tables);
    if (table.format !== 'csv' && table.format !== 'json' && table.format !== 'parquet') {
      throw new PipelineInputError(
        `input.table ${table.name} is stored as ${table.format}; batch inference reads CSV, JSON Lines or Parquet tables`,
      );
    }
    source = readable(table.location, `the location of ${table.name}`);
  } else {
    source = readable(input.input.prefix, 'input.prefix');
  }
  const inputBuckets = deps.inputBuckets ?? deps.readableBuckets;
  if (!inputBuckets.includes(source.bucket)) {
    throw new PipelineInputError(
      `the input must be in one of the buckets ${inputBuckets.join(', ')} (the ones batch inference may list), but s3://${source.bucket}/${source.key} was provided`,
    );
  }
  // The model is read now so a wrong URI or format fails before any object is processed.
  const model = await loadModel(deps.objects, input.model.uri);
  const sql = sqlPath(input.engine, model, table);
  // One data object is enough to know the run has work; the Distributed Map lists the rest itself,
  // however many there are (the list never passes through this function or the state payload).
  if ((await deps.objects.list(source.bucket, source.key, { limit: 1 })).length === 0) {
    throw new PipelineInputError(`there are no input objects under s3://${source.bucket}/${source.key}`);
  }
  const outputLocation = `${input.output.replace(/\/+$/, '')}/${execution}/`;
  if (sql !== undefined) {
    const options = { database: deps.database, table: table!.name, features: model.features, model: sql };
    return {
      execution,
      engine: 'sql',
      model_uri: input.model.uri,
      bucket: source.bucket,
      prefix: source.key,
      staging_prefix: `${deps.stagingLocation.replace(/\/+$/, '')}/execution=${execution}/`,
      output_location: outputLocation,
      check_query: batchSqlCheckQuery(options),
      query: batchSqlUnloadQuery({ ...options, outputLocation }),
    };
  }
  return {
    execution,
    engine: 'lambda',
    model_uri: input.model.uri,
    bucket: source.bucket,
    prefix: source.key,
    staging_prefix: `${deps.stagingLocation.replace(/\/+$/, '')}/execution=${execution}/`,
    output_location: outputLocation,
    query: batchUnloadQuery({
      database: deps.database,
      stagingTable: deps.stagingTable,
      execution,
      outputLocation,
    }),
  };
}

/**
 * Column types whose values Athena and DuckDB turn into the same DOUBLE the predict function parses
 * from the object's text. FLOAT (32-bit) is not one: its values are already rounded.
 */
const SQL_EXACT_TYPES = new Set(['double', 'bigint', 'int', 'integer', 'smallint', 'tinyint']);

/**
 * The SQL path's terms when it applies: a table input (Athena reads it through the catalog) whose
 * model features are all columns of exact numeric types. `engine: "sql"` insists, naming why not.
 */
function sqlPath(engine: 'auto' | 'sql' | 'lambda', model: LinearModel, table: LakeTable | undefined) {
  if (engine === 'lambda') return undefined;
  const refuse = (why: string) => {
    if (engine === 'sql') throw new PipelineInputError(`engine "sql" cannot predict this input: ${why}`);
    return undefined;
  };
  if (table === undefined) return refuse('it predicts a lake table, and the input is a prefix (use {"table": …} or engine "lambda")');
  const indexes = columnIndexes(model, table.columns.map((c) => c.name));
  const columns: string[] = [];
  for (const [j, feature] of model.features.entries()) {
    const column = table.columns[indexes[j]!];
    if (column === undefined) return refuse(`the model needs "${feature}", which table ${table.name} does not have`);
    if (!SQL_EXACT_TYPES.has(column.type.toLowerCase())) {
      return refuse(`column ${column.name} of ${table.name} is ${column.type}; the SQL path reads only exact numeric types (${[...SQL_EXACT_TYPES].join(', ')}) so its predictions equal the predict function's`);
    }
    columns.push(column.name);
  }
  return { intercept: model.intercept, coefficients: model.coefficients, columns };
}

/** Staged predictions are written in parts of about this size: a Lambda holds one part, not the object's whole output. */
export const STAGED_PART_BYTES = 8 * 1024 * 1024;

/** The object's lines as they arrive (`\r\n` or `\n`), never the whole object as one string. */
export async function* textLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let rest = '';
  const strip = (l: string) => (l.endsWith('\r') ? l.slice(0, -1) : l);
  for await (const chunk of chunks) {
    const parts = (rest + decoder.decode(chunk, { stream: true })).split('\n');
    rest = parts.pop()!;
    for (const line of parts) yield strip(line);
  }
  rest += decoder.decode();
  if (rest !== '') yield strip(rest);
}

/**
 * Where each model feature is in `names` (a header, a table's columns): by its name, or by the lake's
 * name for the column; -1 where it is missing.
 */
function columnIndexes(model: LinearModel, names: readonly string[]): number[] {
  // Raw uploads name columns as written (`fixed acidity`); models name them as the lake does.
  const normalized = names.map(catalogName);
  return model.features.map((f) => {
    const exact = names.indexOf(f);
    return exact !== -1 ? exact : normalized.indexOf(f);
  });
}

/** Where each model feature is in `header`; a missing one is a {@link DataValidationError}. */
function featureColumns(model: LinearModel, header: readonly string[], source: string): number[] {
  const columnOf = columnIndexes(model, header);
  const missing = model.features.filter((_, i) => columnOf[i] === -1);
  if (missing.length > 0) {
    throw new DataValidationError(
      `${source}: the model needs ${missing.map((m) => `"${m}"`).join(', ')}, which the header (${listColumns(header)}) does not have`,
    );
  }
  return columnOf;
}

/**
 * A Parquet object's rows (the reader `mlops predict` uses), one row group decoded at a time.
 * Parquet is read from its footer, so the object is held as bytes (never as a string).
 */
async function* parquetRows(model: LinearModel, body: Uint8Array, source: string): AsyncGenerator<number[]> {
  let columnOf: number[] | undefined;
  for await (const group of parquetRowGroups(parquetBytes(body), source)) {
    columnOf ??= featureColumns(model, group.header, source);
    for (let i = 0; i < group.rows.length; i++) {
      const row = group.rows[i]!;
      const where = () => `${source}: row ${group.first + i + 1}`;
      yield columnOf.map((c, j) => parquetNumber(row[c], where, model.features[j]!));
    }
  }
}

/**
 * The model's features of each CSV row, in the model's order. The header may name columns as
 * written in a raw upload (`fixed acidity`); models name them as the lake does. A quoted field
 * cannot span lines (the trainer's CSV rule).
 */
async function* csvRows(model: LinearModel, lines: AsyncIterable<string>, source: string): AsyncGenerator<number[]> {
  let header: string[] | undefined;
  let separator = ',';
  let columnOf: number[] = [];
  let lineNo = 0;
  let rows = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    if (!header) {
      header = readCsvHeader(line, source);
      separator = detectSeparator(line);
      columnOf = featureColumns(model, header, source);
      continue;
    }
    const where = () => `${source}: line ${lineNo}`;
    const fields = splitRecord(line, separator, where);
    if (fields.length !== header.length) {
      throw new CsvError(`${where()}: has ${fields.length} fields but the header has ${header.length}`);
    }
    rows++;
    yield columnOf.map((c) => numericCell(fields[c]!, where, header![c]!));
  }
  if (!header) throw new CsvError(`${source}: the file is empty (no header, no data)`);
  if (rows === 0) throw new CsvError(`${source}: the file has a header but no data rows`);
}

async function* jsonLinesRows(model: LinearModel, lines: AsyncIterable<string>, source: string): AsyncGenerator<number[]> {
  let lineNo = 0;
  let rows = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new DataValidationError(`${source}: line ${lineNo} is not JSON: ${(err as Error).message}`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new DataValidationError(`${source}: line ${lineNo} is not a JSON object`);
    }
    const r = record as Record<string, unknown>;
    rows++;
    yield model.features.map((f) => {
      const v = r[f];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new DataValidationError(
          `${source}: line ${lineNo}, "${f}": ${v === undefined ? 'missing' : `${JSON.stringify(v)} is not a finite number`}`,
        );
      }
      return v;
    });
  }
  if (rows === 0) throw new DataValidationError(`${source}: no records`);
}

export interface PredictRequest {
  readonly model_uri: string;
  readonly item: BatchItem;
  readonly staging_prefix: string;
}

/**
 * The model's features of each row of an object: Parquet (by its `PAR1` magic, whatever the key)
 * through the Parquet reader, else JSON Lines (by extension) or CSV as a stream of lines.
 */
async function objectRows(
  model: LinearModel,
  chunks: AsyncIterable<Uint8Array>,
  key: string,
  source: string,
): Promise<AsyncIterable<number[]>> {
  const it = chunks[Symbol.asyncIterator]();
  const first = await it.next();
  const all = (async function* () {
    if (!first.done) yield first.value;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  })();
  if (!first.done && isParquetBytes(first.value)) {
    const parts: Uint8Array[] = [];
    for await (const part of all) parts.push(part);
    return parquetRows(model, Buffer.concat(parts), source);
  }
  const lines = textLines(all);
  return /\.(jsonl|ndjson|json)$/i.test(key) ? jsonLinesRows(model, lines, source) : csvRows(model, lines, source);
}

/** A model per URI, kept across invocations of a warm Lambda (each Map iteration would reload it). */
export type ModelCache = Map<string, LinearModel>;

interface PredictDeps {
  readonly objects: ObjectStore;
  readonly cache?: ModelCache;
  /**
   * Size of a staged part.
   * @default STAGED_PART_BYTES
   */
  readonly partBytes?: number;
}

async function cachedModel(uri: string, deps: PredictDeps): Promise<LinearModel> {
  let model = deps.cache?.get(uri);
  if (!model) {
    model = await loadModel(deps.objects, uri);
    deps.cache?.set(uri, model);
  }
  return model;
}

/**
 * Predicts every row of one object, reading it line by line, and stages the predictions in parts
 * of about {@link STAGED_PART_BYTES}: `part-<index>.json`, then `part-<index>-0001.json`, ….
 * Named by the item's index, so a retried object overwrites its own parts instead of adding some;
 * an object that fails part-way empties the parts it wrote, so a run that tolerates failed objects
 * never UNLOADs half of one.
 */
export async function predictObject(
  request: PredictRequest,
  deps: PredictDeps,
): Promise<{ source: string; rows: number; staged: string[] }> {
  const model = await cachedModel(request.model_uri, deps);
  const { bucket, key, index } = request.item;
  const source = `s3://${bucket}/${key}`;
  const staging = parseS3Uri(request.staging_prefix, 'staging_prefix');
  const partKey = (n: number) =>
    `${staging.key}part-${String(index).padStart(5, '0')}${n === 0 ? '' : `-${String(n).padStart(4, '0')}`}.json`;
  const written: string[] = [];
  let buffer: string[] = [];
  let bytes = 0;
  const flush = async () => {
    const k = partKey(written.length);
    await deps.objects.put(staging.bucket, k, `${buffer.join('\n')}\n`, 'application/x-ndjson');
    written.push(k);
    buffer = [];
    bytes = 0;
  };
  let rows = 0;
  try {
    for await (const features of await objectRows(model, await deps.objects.stream(bucket, key), key, source)) {
      rows++;
      const record = Object.fromEntries(model.features.map((f, j) => [f, features[j]]));
      const line = JSON.stringify({
        source,
        row_number: rows,
        prediction: predictRow(model, features),
        // A string column, so the staging table reads the same on Athena and DuckDB.
        record: JSON.stringify(record),
      });
      buffer.push(line);
      bytes += line.length + 1;
      if (bytes >= (deps.partBytes ?? STAGED_PART_BYTES)) await flush();
    }
    if (buffer.length > 0) await flush();
  } catch (err) {
    await Promise.all(written.map((k) => deps.objects.put(staging.bucket, k, '', 'application/x-ndjson')));
    if (err instanceof CsvError) throw new DataValidationError(err.message);
    throw err;
  }
  return { source, rows, staged: written.map((k) => `s3://${staging.bucket}/${k}`) };
}

export interface PredictBatchRequest {
  readonly model_uri: string;
  readonly staging_prefix: string;
  /** One ItemBatcher batch of the Distributed Map: objects the ItemReader listed. */
  readonly items: readonly BatchItem[];
}

export interface PredictBatchResult {
  readonly objects: readonly { source: string; rows: number }[];
  readonly rows: number;
  /** Keys listed under the prefix that are not data (`_SUCCESS`, `.hidden`, folder markers): Athena skips them too. */
  readonly skipped: readonly string[];
}

/**
 * One child execution of the batch machine's Distributed Map: predicts its objects one after the
 * other (memory holds one object's current part, whatever the batch size).
 *
 * @example
 * await predictBatch({ model_uri, staging_prefix, items: [{ bucket: 'raw', key: 'in/a.csv', index: 0 }] }, { objects, cache });
 */
export async function predictBatch(request: PredictBatchRequest, deps: PredictDeps): Promise<PredictBatchResult> {
  const objects: { source: string; rows: number }[] = [];
  const skipped: string[] = [];
  for (const item of request.items) {
    if (!isDataKey(item.key)) {
      skipped.push(item.key);
      continue;
    }
    const { source, rows } = await predictObject(
      { model_uri: request.model_uri, item, staging_prefix: request.staging_prefix },
      deps,
    );
    objects.push({ source, rows });
  }
  return { objects, rows: objects.reduce((n, o) => n + o.rows, 0), skipped };
}

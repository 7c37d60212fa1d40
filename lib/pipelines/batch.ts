/**
 * Batch inference cores: plan a run (validate the input, check the model loads, list the input
 * objects) and predict one object (CSV with a header, JSON Lines, or Parquet), staging the predictions as
 * JSON Lines under the execution's partition of the staging table; one Athena UNLOAD then writes the
 * run's predictions to the lake as Parquet.
 *
 * Why stage JSON and convert with Athena: writing Parquet needs a Parquet writer, and the one the
 * kit has (DuckDB) is a native module that a bundled Lambda cannot carry; Athena writes Parquet
 * natively, and the local engine runs the same UNLOAD.
 *
 * @example
 * const plan = await planBatch({ input, execution: 'b-1' }, deps);
 * await predictObject({ model_uri: plan.model_uri, item: plan.items[0], staging_prefix: plan.staging_prefix }, deps);
 */
import type { LinearModel } from '../model/format';
import { readModelFromArchive } from '../model/archive';
import { predictRow } from '../model/format';
import { CsvError, listColumns, parseCsv, readCsvHeader } from '../trainer/csv';
import { isParquetBytes, parquetBytes, parquetNumber, parquetRowGroups } from '../trainer/parquet-rows';
import { type LakeAccess, parseS3Uri, resolveDataset } from './catalog';
import { DataValidationError, PipelineInputError } from './errors';
import { parseBatchInput } from './input';
import type { ObjectStore } from './objects';
import { batchUnloadQuery } from './sql';
import { catalogName } from './validate';

/** An inline Map's items travel in the state's 256 KB payload: more objects need a Distributed Map. */
export const MAX_BATCH_OBJECTS = 1000;

export interface BatchItem {
  readonly bucket: string;
  readonly key: string;
  readonly index: number;
}

export interface BatchPlan {
  readonly execution: string;
  readonly model_uri: string;
  readonly items: readonly BatchItem[];
  /** `s3://curated/batch-staging/execution=<name>/`. */
  readonly staging_prefix: string;
  /** `<output>/<execution>/`: where the Parquet predictions are unloaded. */
  readonly output_location: string;
  readonly query: string;
}

/** `readableBuckets`: where inputs and models may be read from. */
export interface BatchPlanDeps extends LakeAccess {
  /** `s3://` prefixes predictions may be written under (the state machine's role may write there). */
  readonly outputPrefixes: readonly string[];
  /** `s3://curated/batch-staging/`: the staging table's location. */
  readonly stagingLocation: string;
  readonly stagingTable: string;
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
  if ('table' in input.input) {
    const table = resolveDataset(input.input.table, deps.tables);
    if (table.format !== 'csv' && table.format !== 'json' && table.format !== 'parquet') {
      throw new PipelineInputError(
        `input.table ${table.name} is stored as ${table.format}; batch inference reads CSV, JSON Lines or Parquet tables`,
      );
    }
    source = readable(table.location, `the location of ${table.name}`);
  } else {
    source = readable(input.input.prefix, 'input.prefix');
  }
  // The model is read now so a wrong URI or format fails before any object is processed.
  await loadModel(deps.objects, input.model.uri);
  const keys = await deps.objects.list(source.bucket, source.key);
  if (keys.length === 0) {
    throw new PipelineInputError(`there are no input objects under s3://${source.bucket}/${source.key}`);
  }
  if (keys.length > MAX_BATCH_OBJECTS) {
    throw new PipelineInputError(
      `there are ${keys.length} input objects under s3://${source.bucket}/${source.key}; an inline Map takes at most ${MAX_BATCH_OBJECTS} (combine objects, or use a Distributed Map on AWS)`,
    );
  }
  const outputLocation = `${input.output.replace(/\/+$/, '')}/${execution}/`;
  return {
    execution,
    model_uri: input.model.uri,
    items: keys.map((key, index) => ({ bucket: source.bucket, key, index })),
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

/** One input row as read: the values of the model's features, in the model's order. */
interface Row {
  readonly features: number[];
}

/** Where each model feature is in `header`: by its name, or by the lake's name for the column. */
function featureColumns(model: LinearModel, header: readonly string[], source: string): number[] {
  // Raw uploads name columns as written (`fixed acidity`); models name them as the lake does.
  const normalized = header.map(catalogName);
  const columnOf = model.features.map((f) => {
    const exact = header.indexOf(f);
    return exact !== -1 ? exact : normalized.indexOf(f);
  });
  const missing = model.features.filter((_, i) => columnOf[i] === -1);
  if (missing.length > 0) {
    throw new DataValidationError(
      `${source}: the model needs ${missing.map((m) => `"${m}"`).join(', ')}, which the header (${listColumns(header)}) does not have`,
    );
  }
  return columnOf;
}

function csvRows(model: LinearModel, text: string, source: string): Row[] {
  const header = readCsvHeader(text, source);
  const wanted = featureColumns(model, header, source).map((c) => header[c]!);
  const table = parseCsv(text, { source, numericColumns: wanted });
  const columns = wanted.map((h) => table.numeric.get(h)!);
  return Array.from({ length: table.rows }, (_, r) => ({ features: columns.map((c) => c[r]!) }));
}

/** A Parquet object's rows (the reader `mlops predict` uses), one row group decoded at a time. */
async function parquetRows(model: LinearModel, body: Uint8Array, source: string): Promise<Row[]> {
  const rows: Row[] = [];
  let columnOf: number[] | undefined;
  for await (const group of parquetRowGroups(parquetBytes(body), source)) {
    columnOf ??= featureColumns(model, group.header, source);
    for (let i = 0; i < group.rows.length; i++) {
      const row = group.rows[i]!;
      const where = () => `${source}: row ${group.first + i + 1}`;
      rows.push({ features: columnOf.map((c, j) => parquetNumber(row[c], where, model.features[j]!)) });
    }
  }
  return rows;
}

function jsonLinesRows(model: LinearModel, text: string, source: string): Row[] {
  const rows: Row[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new DataValidationError(`${source}: line ${i + 1} is not JSON: ${(err as Error).message}`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new DataValidationError(`${source}: line ${i + 1} is not a JSON object`);
    }
    const r = record as Record<string, unknown>;
    rows.push({
      features: model.features.map((f) => {
        const v = r[f];
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new DataValidationError(
            `${source}: line ${i + 1}, "${f}": ${v === undefined ? 'missing' : `${JSON.stringify(v)} is not a finite number`}`,
          );
        }
        return v;
      }),
    });
  });
  if (rows.length === 0) throw new DataValidationError(`${source}: no records`);
  return rows;
}

export interface PredictRequest {
  readonly model_uri: string;
  readonly item: BatchItem;
  readonly staging_prefix: string;
}

/** A model per URI, kept across invocations of a warm Lambda (each Map iteration would reload it). */
export type ModelCache = Map<string, LinearModel>;

export async function predictObject(
  request: PredictRequest,
  deps: { readonly objects: ObjectStore; readonly cache?: ModelCache },
): Promise<{ source: string; rows: number; staged: string }> {
  let model = deps.cache?.get(request.model_uri);
  if (!model) {
    model = await loadModel(deps.objects, request.model_uri);
    deps.cache?.set(request.model_uri, model);
  }
  const { bucket, key, index } = request.item;
  const source = `s3://${bucket}/${key}`;
  const body = (await deps.objects.get(bucket, key)).body;
  let rows: Row[];
  try {
    if (isParquetBytes(body)) rows = await parquetRows(model, body, source);
    else {
      const text = Buffer.from(body).toString('utf8');
      rows = /\.(jsonl|ndjson|json)$/i.test(key) ? jsonLinesRows(model, text, source) : csvRows(model, text, source);
    }
  } catch (err) {
    if (err instanceof CsvError) throw new DataValidationError(err.message);
    throw err;
  }
  const lines = rows.map((row, r) => {
    const record = Object.fromEntries(model.features.map((f, j) => [f, row.features[j]]));
    return JSON.stringify({
      source,
      row_number: r + 1,
      prediction: predictRow(model, row.features),
      // A string column, so the staging table reads the same on Athena and DuckDB.
      record: JSON.stringify(record),
    });
  });
  const staging = parseS3Uri(request.staging_prefix, 'staging_prefix');
  // Named by the item's index: a retried iteration overwrites its own part instead of adding one.
  const stagedKey = `${staging.key}part-${String(index).padStart(5, '0')}.json`;
  await deps.objects.put(staging.bucket, stagedKey, `${lines.join('\n')}\n`, 'application/x-ndjson');
  return { source, rows: rows.length, staged: `s3://${staging.bucket}/${stagedKey}` };
}

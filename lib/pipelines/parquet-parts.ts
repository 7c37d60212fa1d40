/**
 * The splits as Athena's UNLOAD leaves them: a folder of Parquet parts, any number of them. These
 * helpers read the parts through the {@link ObjectStore} port without holding one whole: a part's
 * row count from its footer, its rows one row group at a time, both through ranged GETs.
 *
 * @example
 * const parts = await listParts(objects, 's3://artifacts/data/wine-quality/run-1/holdout/');
 * const rows = await parquetRowCount(objects, parts[0]!);
 */
import { CsvError } from '../trainer/csv';
import { parquetNumber as cellNumber, parquetRowGroups } from '../trainer/parquet-rows';
import type { AsyncBuffer } from '../trainer/parquet-rows';
import { parseS3Uri } from './catalog';
import { DataValidationError } from './errors';
import type { ObjectStore } from './objects';

/** One part of a split: where it is and how many bytes it holds. */
export interface Part {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
}

/** Numbers inside names compare as numbers: `q_2` before `q_10`, so parts keep the writer's order. */
const byName = new Intl.Collator('en', { numeric: true }).compare;

/**
 * The parts of a split: every data object under a prefix (a URI ending in `/`), in name order with
 * numbers compared as numbers; a URI naming one object is that object alone (a split staged before
 * splits were unloaded as parts). An empty prefix is a {@link DataValidationError}.
 */
export async function listParts(objects: ObjectStore, uri: string, what = 'the split'): Promise<Part[]> {
  const { bucket, key } = parseS3Uri(uri, what);
  const keys = key.endsWith('/') ? (await objects.list(bucket, key)).sort(byName) : [key];
  if (keys.length === 0) throw new DataValidationError(`${what} ${uri} holds no data files`);
  const parts: Part[] = [];
  for (const k of keys) parts.push({ bucket, key: k, size: (await objects.head(bucket, k)).size ?? 0 });
  return parts;
}

/**
 * A part as hyparquet's random-access buffer: each slice is a ranged GET, so reading the footer or
 * one row group never fetches the rest of the object.
 */
export function partBuffer(objects: ObjectStore, part: Part): AsyncBuffer {
  return {
    byteLength: part.size,
    slice: async (start, end) => {
      const { body: bytes } = await objects.read(part.bucket, part.key, start, end ?? part.size);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

const uriOf = (part: Part) => `s3://${part.bucket}/${part.key}`;

/** A part's rows from its Parquet footer; a part that is not Parquet is a {@link DataValidationError}. */
export async function parquetRowCount(objects: ObjectStore, part: Part): Promise<number> {
  const { parquetMetadataAsync } = await import('hyparquet');
  if (part.size < 12) throw new DataValidationError(`${uriOf(part)} is not a Parquet file (${part.size} bytes)`);
  try {
    return Number((await parquetMetadataAsync(partBuffer(objects, part))).num_rows);
  } catch (err) {
    throw new DataValidationError(`${uriOf(part)} cannot be read as Parquet: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * The rows of every part in order, a row group at a time, as `{ header, rows }`: memory holds one
 * row group of one part, whatever the number or size of the parts. Parts without rows are skipped.
 */
export async function* partRowGroups(
  objects: ObjectStore,
  parts: readonly Part[],
): AsyncGenerator<{ readonly header: readonly string[]; readonly rows: readonly unknown[][]; readonly source: string }> {
  for (const part of parts) {
    if ((await parquetRowCount(objects, part)) === 0) continue;
    const source = uriOf(part);
    try {
      for await (const group of parquetRowGroups(partBuffer(objects, part), source)) {
        yield { header: group.header, rows: group.rows, source };
      }
    } catch (err) {
      if (err instanceof CsvError) throw new DataValidationError(err.message);
      throw err;
    }
  }
}

/** A Parquet cell as a finite number, or a {@link DataValidationError} naming where it is. */
function parquetNumber(value: unknown, where: () => string, column: string): number {
  try {
    return cellNumber(value, where, column);
  } catch (err) {
    if (err instanceof CsvError) throw new DataValidationError(err.message);
    throw err;
  }
}

/** A row group's numeric columns: `values[c]` for the c-th column asked for, `undefined` when the parts lack it. */
export interface NumericBlock {
  readonly rows: number;
  readonly values: readonly (Float64Array | undefined)[];
  readonly source: string;
}

/**
 * The asked-for columns of every part's rows as numbers, one row group at a time. A column the
 * parts lack comes back `undefined` (the caller decides whether that is an error); a cell that is
 * not a finite number is a {@link DataValidationError} naming the part, row and column.
 */
export async function* numericBlocks(
  objects: ObjectStore,
  parts: readonly Part[],
  columns: readonly string[],
): AsyncGenerator<NumericBlock> {
  let first = 0;
  let lastSource = '';
  for await (const group of partRowGroups(objects, parts)) {
    if (group.source !== lastSource) {
      first = 0;
      lastSource = group.source;
    }
    const n = group.rows.length;
    const values = columns.map((name) => {
      const c = group.header.indexOf(name);
      if (c < 0) return undefined;
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        out[i] = parquetNumber(group.rows[i]![c], () => `${group.source}, row ${first + i + 1}`, name);
      }
      return out;
    });
    first += n;
    yield { rows: n, values, source: group.source };
  }
}

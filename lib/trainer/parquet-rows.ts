/**
 * Reads a Parquet file row group by row group with hyparquet (plain JavaScript, so the batch
 * inference Lambda's bundle carries it, where DuckDB, a native addon, cannot go), for prediction:
 * memory holds one row group at a time, whatever the size of the file.
 *
 * @example
 * const file = await parquetFile('rows.parquet');
 * for await (const group of parquetRowGroups(file, 'rows.parquet')) console.log(group.rows.length);
 */
import { open } from 'node:fs/promises';
import type { AsyncBuffer } from 'hyparquet';
import { CsvError, numericCell, parquetCellProblem } from './csv';

export type { AsyncBuffer } from 'hyparquet';

/** The first four bytes of a Parquet file (and its last four). */
export const PARQUET_MAGIC = Buffer.from('PAR1');

/** Whether bytes start like a Parquet file. */
export function isParquetBytes(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && PARQUET_MAGIC.equals(bytes.subarray(0, 4));
}

/** A Parquet file held in memory (an S3 object's body) as hyparquet's random-access buffer. */
export function parquetBytes(bytes: Uint8Array): AsyncBuffer {
  return {
    byteLength: bytes.byteLength,
    slice: async (start, end) => {
      const s = bytes.subarray(start, end ?? bytes.byteLength);
      return s.buffer.slice(s.byteOffset, s.byteOffset + s.byteLength) as ArrayBuffer;
    },
  };
}

/** A Parquet file on disk, read by ranges through one file handle. */
export async function parquetFile(path: string): Promise<AsyncBuffer & { close(): Promise<void> }> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    byteLength: size,
    slice: async (start, end) => {
      const length = (end ?? size) - start;
      const b = Buffer.allocUnsafeSlow(length);
      const { bytesRead } = await fh.read(b, 0, length, start);
      return b.buffer.slice(0, bytesRead);
    },
    close: () => fh.close(),
  };
}

export interface ParquetRowGroup {
  /** Top-level column names, in file order. */
  readonly header: readonly string[];
  /** 0-based index of the group's first row in the file. */
  readonly first: number;
  /** One array per row, values in `header` order. */
  readonly rows: readonly unknown[][];
}

/**
 * Yields a Parquet file's rows one row group at a time; an empty file (no rows) is a CsvError worded
 * as for a trainer channel.
 */
export async function* parquetRowGroups(file: AsyncBuffer, source: string): AsyncGenerator<ParquetRowGroup> {
  // Loaded on first use: a training run (the same CLI bundle) never reads Parquet this way.
  const { parquetMetadataAsync, parquetRead, parquetSchema } = await import('hyparquet');
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  let header: string[];
  try {
    metadata = await parquetMetadataAsync(file);
    header = parquetSchema(metadata).children.map((c) => c.element.name);
  } catch (e) {
    throw new CsvError(`${source}: cannot be read as Parquet: ${(e as Error).message.split('\n')[0]}`);
  }
  if (Number(metadata.num_rows) === 0) throw new CsvError(`${source}: the file has columns but no data rows`);
  let first = 0;
  for (const group of metadata.row_groups) {
    const n = Number(group.num_rows);
    let rows: unknown[][] = [];
    try {
      await parquetRead({
        file,
        metadata,
        columns: header,
        rowStart: first,
        rowEnd: first + n,
        onComplete: (r) => {
          rows = r;
        },
      });
    } catch (e) {
      throw new CsvError(`${source}: cannot be read as Parquet: ${(e as Error).message.split('\n')[0]}`);
    }
    yield { header, first, rows };
    first += n;
  }
}

/**
 * The number a Parquet cell holds: a finite number, an integer (bigint), or text that is a number by
 * the CSV rules; otherwise a CsvError naming `where()` and the column.
 */
export function parquetNumber(value: unknown, where: () => string, column: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') return numericCell(value, where, column);
  throw new CsvError(`${where()}, column "${column}": ${parquetCellProblem(value)}`);
}

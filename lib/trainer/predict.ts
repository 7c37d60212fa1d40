/**
 * Batch prediction with a model directory: read CSV and Parquet files, match their columns to the
 * model's features by name, and write the rows back as CSV with a `prediction` column appended.
 *
 * The output keeps every CSV input line exactly as it was (column order, quoting, number formatting,
 * extra columns such as an id or the target itself) and adds the prediction as the last field,
 * with the input's separator. Keeping the input makes the output joinable and reviewable without a
 * second file; a caller who wants predictions only can cut the last column. A Parquet input's rows
 * are written as CSV lines of their values.
 *
 * Streaming: a CSV file is read in chunks and a Parquet file one row group at a time, and the output
 * is produced as text pieces of a few hundred KB, so memory does not grow with the input.
 *
 * @example
 * const model = await loadModelDir('model');
 * for await (const text of predictFiles(model, ['new-wines.csv']).chunks) process.stdout.write(text);
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { LinearModel } from '../model/format';
import { listDataFiles } from './contract';
import { CsvError, detectSeparator, listColumns, numericCell, readCsvHeader, splitRecord } from './csv';
import { isParquetBytes, parquetFile, parquetNumber, parquetRowGroups } from './parquet-rows';

/** The name of the column predictions are written to. */
export const PREDICTION_COLUMN = 'prediction';

/** Output lines gathered before a piece is handed on. */
const PIECE_LINES = 4096;

/** What the first input fixed: the output's columns and separator. */
interface OutputShape {
  readonly source: string;
  readonly header: readonly string[];
  readonly sep: string;
}

function checkColumns(model: LinearModel, header: readonly string[], source: string): void {
  const missing = model.features.filter((f) => !header.includes(f));
  if (missing.length > 0) {
    throw new CsvError(
      `${source}: the model needs feature${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}, ` +
        `which ${missing.length > 1 ? 'are' : 'is'} missing; columns are: ${listColumns(header)}`,
    );
  }
  if (header.includes(PREDICTION_COLUMN)) {
    throw new CsvError(
      `${source}: already has a "${PREDICTION_COLUMN}" column; remove it so the output has one prediction per row`,
    );
  }
}

function sameColumns(shape: OutputShape, header: readonly string[], source: string, ordered: boolean): void {
  const same = ordered
    ? header.length === shape.header.length && header.every((h, k) => h === shape.header[k])
    : header.length === shape.header.length && header.every((h) => shape.header.includes(h));
  if (!same) {
    throw new CsvError(
      `${source}: every input must have the columns of the first one${ordered ? ', in the same order' : ''} ` +
        `(${shape.source}: ${listColumns(shape.header)}), but it has ${listColumns(header)}`,
    );
  }
}

/** Text lines of a byte stream, split at `\n`, decoded as UTF-8 across chunk boundaries. */
async function* textLines(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let carry = '';
  for await (const chunk of chunks) {
    const text = carry + decoder.decode(chunk, { stream: true });
    let p = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', p)) {
      yield text.slice(p, nl);
      p = nl + 1;
    }
    carry = text.slice(p);
  }
  carry += decoder.decode();
  // `a\nb` and `a\nb\n` both hold two lines; the piece after a final break is an empty line.
  yield carry;
}

/**
 * Predicts the rows of one CSV byte stream; yields output pieces. The first input (`shape` unset)
 * also writes the header line. Messages are those of the whole-text reader in `csv.ts`.
 */
async function* predictCsvStream(
  model: LinearModel,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  source: string,
  out: { shape?: OutputShape; rows: number },
): AsyncGenerator<string> {
  const w = model.coefficients;
  let pending: string[] | undefined = []; // the lines up to the header
  let sep = ',';
  let width = 0;
  let columnOf: number[] = [];
  let lineNo = 0;
  let rows = 0;
  let piece: string[] = [];
  for await (const raw of textLines(chunks)) {
    lineNo++;
    if (pending) {
      pending.push(raw);
      const l = (lineNo === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw).replace(/\r$/, '');
      if (l.trim() === '') continue;
      // The header's own checks (empty names, duplicates), with its line number, by csv.ts.
      const header = readCsvHeader(pending.join('\n'), source);
      pending = undefined;
      checkColumns(model, header, source);
      sep = detectSeparator(l);
      if (out.shape) {
        sameColumns(out.shape, header, source, true);
        if (sep !== out.shape.sep) {
          throw new CsvError(
            `${source}: every input must use the separator of the first one (${JSON.stringify(out.shape.sep)}), but it uses ${JSON.stringify(sep)}`,
          );
        }
      } else {
        out.shape = { source, header, sep };
        piece.push(`${l}${sep}${PREDICTION_COLUMN}`);
      }
      width = header.length;
      columnOf = model.features.map((f) => header.indexOf(f));
      continue;
    }
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const no = lineNo;
    const where = () => `${source}: line ${no}`;
    const fields = splitRecord(line, sep, where);
    if (fields.length !== width) {
      throw new CsvError(`${where()}: has ${fields.length} fields but the header has ${width}`);
    }
    let y = model.intercept;
    for (let j = 0; j < w.length; j++) {
      y += w[j]! * numericCell(fields[columnOf[j]!]!, where, model.features[j]!);
    }
    piece.push(`${line}${sep}${y}`);
    rows++;
    if (piece.length >= PIECE_LINES) {
      yield `${piece.join('\n')}\n`;
      piece = [];
    }
  }
  if (pending) readCsvHeader(pending.join('\n'), source); // throws the empty-file message
  if (rows === 0) throw new CsvError(`${source}: the file has a header but no data rows`);
  out.rows += rows;
  if (piece.length > 0) yield `${piece.join('\n')}\n`;
}

/** A value as a CSV field: quoted when it holds the separator, a quote or a line break. */
function csvField(value: unknown, sep: string): string {
  let s: string;
  if (value === null || value === undefined) s = '';
  else if (typeof value === 'string') s = value;
  else if (value instanceof Date) s = value.toISOString();
  else if (typeof value === 'object')
    s = JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  else s = String(value);
  return s.includes(sep) || /["\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

async function* predictParquet(
  model: LinearModel,
  path: string,
  source: string,
  out: { shape?: OutputShape; rows: number },
): AsyncGenerator<string> {
  const file = await parquetFile(path);
  try {
    const w = model.coefficients;
    let order: number[] | undefined; // output column k is input column order[k]
    let columnOf: number[] = [];
    for await (const group of parquetRowGroups(file, source)) {
      if (!order) {
        checkColumns(model, group.header, source);
        if (out.shape) sameColumns(out.shape, group.header, source, false);
        else out.shape = { source, header: group.header, sep: ',' };
        const shape = out.shape;
        order = shape.header.map((h) => group.header.indexOf(h));
        columnOf = model.features.map((f) => group.header.indexOf(f));
        if (shape.source === source) {
          yield `${[...shape.header, PREDICTION_COLUMN].map((h) => csvField(h, shape.sep)).join(shape.sep)}\n`;
        }
      }
      const sep = out.shape!.sep;
      let piece: string[] = [];
      for (let i = 0; i < group.rows.length; i++) {
        const row = group.rows[i]!;
        const where = () => `${source}: row ${group.first + i + 1}`;
        let y = model.intercept;
        for (let j = 0; j < w.length; j++) {
          y += w[j]! * parquetNumber(row[columnOf[j]!], where, model.features[j]!);
        }
        let line = '';
        for (const k of order) line += `${csvField(row[k], sep)}${sep}`;
        piece.push(`${line}${y}`);
        if (piece.length >= PIECE_LINES) {
          yield `${piece.join('\n')}\n`;
          piece = [];
        }
      }
      out.rows += group.rows.length;
      if (piece.length > 0) yield `${piece.join('\n')}\n`;
    }
  } finally {
    await file.close();
  }
}

/** A file, or a directory's files recursively in path order (hidden and `_` names skipped). */
async function expandInputs(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (err) {
      throw new CsvError(`cannot read ${p}: ${(err as Error).message}`);
    }
    if (!isDir) files.push(p);
    else {
      const listed = await listDataFiles(p);
      if (listed.length === 0) throw new CsvError(`cannot read ${p}: the directory holds no data files`);
      files.push(...listed);
    }
  }
  return files;
}

async function startsLikeParquet(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new CsvError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return isParquetBytes(b.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

export interface PredictRun {
  /** The output CSV, piece by piece; throws a CsvError at the first bad input. */
  readonly chunks: AsyncGenerator<string>;
  /** Rows predicted so far (all of them once `chunks` is done). */
  readonly rows: () => number;
}

/**
 * Predicts every row of CSV and Parquet files (a directory stands for its files), in order, as one
 * CSV: the first input's header with `prediction` appended, then each input's rows. Every input must
 * have the first one's columns (a CSV input in the same order and with the same separator, since its
 * lines are written as they are).
 *
 * @example
 * const run = predictFiles(model, ['part-0.parquet', 'part-1.parquet']);
 * await pipeline(Readable.from(run.chunks), createWriteStream('out.csv'));
 */
export function predictFiles(model: LinearModel, paths: readonly string[]): PredictRun {
  const out: { shape?: OutputShape; rows: number } = { rows: 0 };
  async function* chunks(): AsyncGenerator<string> {
    for (const path of await expandInputs(paths)) {
      if (await startsLikeParquet(path)) yield* predictParquet(model, path, path, out);
      else {
        const stream = createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
        yield* predictCsvStream(model, stream, path, out);
      }
    }
  }
  return { chunks: chunks(), rows: () => out.rows };
}

/**
 * Predicts every row of CSV text; returns the output CSV text (see the module comment).
 *
 * @example
 * await predictCsv(model, 'a,b,id\n1,2,x\n', 'in.csv'); // 'a,b,id,prediction\n1,2,x,3.5\n'
 */
export async function predictCsv(model: LinearModel, text: string, source: string): Promise<string> {
  let result = '';
  for await (const piece of predictCsvStream(model, [Buffer.from(text)], source, { rows: 0 })) result += piece;
  return result;
}

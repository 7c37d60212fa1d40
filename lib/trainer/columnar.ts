/**
 * Reads a training or validation channel (any number of CSV and Parquet files) straight into the
 * column-major design matrix the solver takes, without holding a file as a string: CSV is parsed from
 * the bytes of 1 MiB reads into one reused buffer, Parquet is read by DuckDB one vector at a time.
 *
 * Two passes over each file keep memory at the size of the matrix: the first hashes the bytes (the
 * data version) and counts line breaks (an upper bound on the rows, so the matrix is allocated once
 * at its final size), the second writes every cell into its place. Only a line that holds quotes,
 * non-ASCII bytes or padding leaves the byte-level path; it is then decoded and split by the same code
 * as `csv.ts`. A CSV-only channel that fails is read once more by `csv.ts`, whose message (and which
 * problem it reports first) thereby stays exactly what it always was. A file of 16 MiB or more is
 * parsed by two threads, each half into its rows of one SharedArrayBuffer (20–30% faster on this
 * loaded 2-core machine at 1,000,000 × 20; the worker is the one the fit then uses, so one isolate (~12 MB) serves both).
 *
 * Why not DuckDB for CSV too: measured on this 2-core machine with 200,000 × 20 rows (79 MB), DuckDB's
 * `read_csv` into typed columns took 1.8–3.6 s and 260 MB against 1.3–1.7 s and 140 MB for a chunked
 * parse, and its notion of a number (`inf`, `nan`, `1_000`, quoted line breaks) differs from the
 * trainer's documented one.
 *
 * @example
 * const { set, versions } = await readTrainingChannel(files, 'quality');
 * fitElasticNet(set.X, set.y);
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type ChannelFile, ContractError } from './contract';
import {
  checkSameColumns,
  CsvError,
  type CsvTable,
  detectSeparator,
  numericCell,
  parquetCellProblem,
  parseCsv,
  readCsvHeader,
  splitRecord,
  type TableHead,
  toDesign,
  toTrainingSet,
  trainingFeatureNames,
  type TrainingSet,
} from './csv';
import { defaultFitThreads, fitMatrixArray, PARALLEL_FIT_MIN_ROWS, prewarmFitThreads, runOnFitWorker } from './fit-threads';

/** What the data version records of a file that was read (none when hashing was off). */
export interface ReadFileVersion {
  readonly key: string;
  readonly sha256: string;
}

export interface ReadChannelResult {
  readonly set: TrainingSet;
  readonly versions: ReadFileVersion[];
}

/** Bytes per read of a CSV file. */
export const CHUNK = 1 << 20;
/**
 * Files from this size on are parsed by two threads. Starting a worker costs ~30 ms; a thread parses
 * roughly 15–20 MB/s of 17-digit numbers here (about twice that since such numbers take the double-double
 * path of `fastLine`), so from ~16 MB the second thread pays several times over.
 */
export const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;
const PARQUET_MAGIC = Buffer.from('PAR1');

export interface CsvHead extends TableHead {
  readonly kind: 'csv';
  readonly path: string;
  readonly separator: number;
  /** 1-based line number of the header line. */
  readonly headerLine: number;
  /** The byte after the header line (the file's size when the header is its last line). */
  readonly dataStart: number;
  /** An upper bound on the data rows; NaN when only the head was read (`csvHeadOnly`). */
  readonly maxRows: number;
  readonly size: number;
  /** Where a second thread starts parsing (a line start past the middle), for a large file. */
  readonly split?: { readonly byte: number; readonly line: number };
}

interface ParquetHead extends TableHead {
  readonly kind: 'parquet';
  readonly path: string;
  readonly types: readonly string[];
  readonly rows: number;
  readonly maxRows: number;
}

export type Head = CsvHead | ParquetHead;
type Hash = ReturnType<typeof createHash>;

export interface ReadChannelOptions {
  /**
   * Hash each file for the data version; needless when the pipeline passed one (`MLOPS_DATA_VERSION`).
   * @default true
   */
  readonly hash?: boolean;
  /**
   * Files from this size on are parsed by two threads (see {@link PARALLEL_MIN_BYTES}).
   * @default PARALLEL_MIN_BYTES
   */
  readonly parallelMinBytes?: number;
  /**
   * Read a CSV file only up to its header line: no hash, no row bound, no split (the Gram path,
   * `gram-csv.ts`, hashes and splits the file itself).
   * @default false
   */
  readonly csvHeadOnly?: boolean;
}

async function startsWithParquetMagic(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && b.equals(PARQUET_MAGIC);
  } finally {
    await fh.close();
  }
}

function isBlank(line: string): boolean {
  return line.trim() === '';
}

/** First pass over a CSV file: its sha256, its header, and an upper bound on its data rows. */
async function scanCsv(
  file: ChannelFile,
  hash: Hash | undefined,
  parallelMinBytes: number,
  headOnly = false,
): Promise<CsvHead> {
  const size = (await stat(file.path)).size;
  const middle = size >= parallelMinBytes && availableParallelism() > 1 ? size / 2 : Infinity;
  let split: { byte: number; line: number } | undefined;
  let pos = 0;
  let newlines = 0;
  let prefix: Buffer[] | undefined = [];
  let head: { header: string[]; separator: number; headerLine: number; dataStart: number } | undefined;
  const findHeader = (final: boolean) => {
    const bytes = Buffer.concat(prefix!);
    const text = bytes.toString('utf8');
    const lines = text.split('\n');
    // The last piece is only known to be a whole line at the end of the file.
    const whole = final ? lines.length : lines.length - 1;
    for (let k = 0; k < whole; k++) {
      const l = lines[k]!.endsWith('\r') ? lines[k]!.slice(0, -1) : lines[k]!;
      if (isBlank(k === 0 && l.charCodeAt(0) === 0xfeff ? l.slice(1) : l)) continue;
      const headerText = lines.slice(0, k + 1).join('\n');
      // The byte after the header line's line break, counted in bytes (the text may hold U+FFFD).
      let dataStart = -1;
      for (let n = 0; n <= k; n++) dataStart = bytes.indexOf(10, dataStart + 1);
      head = {
        header: readCsvHeader(headerText, file.key),
        separator: detectSeparator(l).charCodeAt(0),
        headerLine: k + 1,
        dataStart: dataStart === -1 ? size : dataStart + 1,
      };
      prefix = undefined;
      return;
    }
    if (final) readCsvHeader(text, file.key); // throws the empty-file message
  };
  for (const chunk of fileChunks(file.path)) {
    hash?.update(chunk);
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
      newlines++;
      if (!split && pos + i >= middle) split = { byte: pos + i + 1, line: newlines + 1 };
    }
    pos += chunk.length;
    if (prefix) {
      prefix.push(Buffer.from(chunk)); // the chunk's memory is reused by the next read
      if (chunk.includes(10)) findHeader(false);
    }
    if (headOnly && !prefix) break;
  }
  if (prefix) findHeader(true);
  const h = head!;
  return {
    kind: 'csv',
    path: file.path,
    source: file.key,
    header: h.header,
    separator: h.separator,
    headerLine: h.headerLine,
    dataStart: h.dataStart,
    // Lines after the header; the last one may lack its line break.
    maxRows: headOnly ? Number.NaN : Math.max(0, newlines + 1 - h.headerLine),
    size,
    // The header must be in the first part; the second must hold something.
    ...(!headOnly && split && split.line > h.headerLine + 1 && split.byte < size ? { split } : {}),
  };
}

/**
 * The byte-level parse of one CSV record, bytes [s, e) of `b`, into `dests[column][row]`: 1 for a
 * data row, 0 for an empty line, -1 when the line needs the exact string path (quotes, padding,
 * anything not a plain decimal number, a wrong field count). It must stay self-contained: worker
 * threads run its source text.
 */
export function fastLine(
  b: Buffer,
  s: number,
  e: number,
  sepByte: number,
  dests: readonly (Float64Array | null)[],
  width: number,
  row: number,
  pow10: readonly number[],
): number {
  if (e > s && b[e - 1] === 13) e--;
  if (s === e) return 0;
  let i = s;
  let c = 0;
  for (;;) {
    if (c === width) return -1;
    const d = dests[c];
    if (d === null || d === undefined) {
      for (; i < e && b[i] !== sepByte; i++) if (b[i] === 34) return -1;
    } else {
      const start = i;
      let ch = b[i];
      let neg = false;
      if (ch === 45) {
        neg = true;
        ch = b[++i];
      } else if (ch === 43) ch = b[++i];
      // The significant digits (leading zeros excluded) as two exact integers: hi, the first 11, and
      // lo, the rest (at most 8 are used: longer mantissas take V8's parser).
      let hi = 0;
      let lo = 0;
      let digits = 0;
      let any = false;
      let exp = 0;
      while (ch !== undefined && ch >= 48 && ch <= 57 && i < e) {
        any = true;
        if (digits > 0 || ch !== 48) {
          if (digits < 11) hi = hi * 10 + (ch - 48);
          else lo = lo * 10 + (ch - 48);
          digits++;
        }
        ch = b[++i];
      }
      if (ch === 46 && i < e) {
        ch = b[++i];
        while (ch !== undefined && ch >= 48 && ch <= 57 && i < e) {
          any = true;
          if (digits > 0 || ch !== 48) {
            if (digits < 11) hi = hi * 10 + (ch - 48);
            else lo = lo * 10 + (ch - 48);
            digits++;
          }
          exp--;
          ch = b[++i];
        }
      }
      if (!any) return -1;
      if ((ch === 101 || ch === 69) && i < e) {
        ch = b[++i];
        let eneg = false;
        if (ch === 45 || ch === 43) {
          eneg = ch === 45;
          ch = b[++i];
        }
        let ev = 0;
        let edigits = 0;
        while (ch !== undefined && ch >= 48 && ch <= 57 && i < e) {
          if (ev < 100000) ev = ev * 10 + (ch - 48);
          edigits++;
          ch = b[++i];
        }
        if (edigits === 0) return -1;
        exp += eneg ? -ev : ev;
      }
      if (i < e && ch !== sepByte) return -1;
      let v = Number.NaN;
      if (digits <= 15 && exp >= -22 && exp <= 22) {
        // Clinger's fast path: both operands exact, so the one rounding is the correct one.
        const mant = digits <= 11 ? hi : hi * pow10[digits - 11]! + lo;
        v = exp >= 0 ? mant * pow10[exp]! : mant / pow10[-exp]!;
      } else if (digits <= 19 && exp >= -22 && exp <= 22) {
        // 16–19 digits (String(x) writes up to 17): the mantissa M = hi·10^r + lo exactly as a
        // double-double a + b, times or divided by the exact 10^|exp| in double-double arithmetic
        // (error below 2^-103 of the result), rounded, and kept only when the whole error interval
        // rounds to the same double, so it is the correctly rounded one; else V8's parser decides.
        const r = digits - 11;
        const P10 = pow10[r]!;
        // Dekker's exact product hi·10^r = t + te (Veltkamp splits; no fused multiply-add in JS).
        const t = hi * P10;
        let sp = 134217729 * hi;
        const hh = sp - (sp - hi);
        const hl = hi - hh;
        sp = 134217729 * P10;
        const ph = sp - (sp - P10);
        const pl = P10 - ph;
        const te = hh * ph - t + hh * pl + hl * ph + hl * pl;
        // lo + te is an exact integer below 2^28; a + b = t + (lo + te), exactly (two-sum).
        const c2 = lo + te;
        const a = t + c2;
        const bb = a - t;
        const bm = t - (a - bb) + (c2 - bb);
        const P = pow10[exp >= 0 ? exp : -exp]!;
        sp = 134217729 * P;
        const qh = sp - (sp - P);
        const ql = P - qh;
        let x: number;
        let y: number;
        if (exp >= 0) {
          const u = a * P;
          sp = 134217729 * a;
          const ah = sp - (sp - a);
          const al = a - ah;
          const ue = ah * qh - u + ah * ql + al * qh + al * ql;
          const s2 = ue + bm * P;
          x = u + s2;
          y = s2 - (x - u);
        } else {
          const q = a / P;
          const w = q * P;
          sp = 134217729 * q;
          const qqh = sp - (sp - q);
          const qql = q - qqh;
          const we = qqh * qh - w + qqh * ql + qql * qh + qql * ql;
          const q2 = (a - w - we + bm) / P;
          x = q + q2;
          y = q2 - (x - q);
        }
        const margin = Math.abs(x) * 3.1554436208840472e-30; // 2^-98
        if (x + (y - margin) === x && x + (y + margin) === x) v = x;
      }
      if (v === v) {
        if (neg) v = -v;
      } else {
        v = Number(b.toString('latin1', start, i));
        if (!Number.isFinite(v)) return -1;
      }
      d[row] = v;
    }
    c++;
    if (i >= e) break;
    i++; // the separator
    if (i === e) return -1; // a trailing separator: an empty field
  }
  return c === width ? 1 : -1;
}

export const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/**
 * A file's bytes, one chunk at a time, all read into the same buffer: each chunk is valid until the
 * next one is asked for. Reusing one buffer (rather than a stream's fresh Buffer per chunk) keeps
 * hundreds of spent 1 MiB chunks from piling up outside the heap between collections.
 */
function* fileChunks(path: string): Generator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Calls `onLine(b, s, e, at)` for each line of bytes [start, end) of an open file: bytes [s, e) of
 * `b` (no `\n`), `at` its offset in the file; the last line may lack its line break. Stops when
 * `onLine` returns false and returns that line's offset, else -1. One buffer serves every read: the
 * unfinished line at its end is moved to its front before the next read. It must stay self-contained:
 * worker threads run its source text.
 */
export function forEachLine(
  readSync: (fd: number, b: Buffer, offset: number, length: number, position: number) => number,
  fd: number,
  start: number,
  end: number,
  chunk: number,
  onLine: (b: Buffer, s: number, e: number, at: number) => boolean,
): number {
  let buf = Buffer.allocUnsafe(2 * chunk);
  let carry = 0;
  let pos = start;
  while (pos < end) {
    if (buf.length - carry < chunk) {
      // A line longer than the buffer's free part: grow (a rare, pathological file).
      const bigger = Buffer.allocUnsafe(2 * (carry + chunk));
      buf.copy(bigger, 0, 0, carry);
      buf = bigger;
    }
    const n = readSync(fd, buf, carry, Math.min(chunk, end - pos), pos);
    if (n === 0) break;
    pos += n;
    const len = carry + n;
    const base = pos - len;
    const b = buf.subarray(0, len);
    let p = 0;
    for (let nl = b.indexOf(10); nl !== -1; nl = b.indexOf(10, p)) {
      if (!onLine(b, p, nl, base + p)) return base + p;
      p = nl + 1;
    }
    carry = len - p;
    buf.copy(buf, 0, p, len);
  }
  if (carry > 0 && !onLine(buf, 0, carry, pos - carry)) return pos - carry;
  return -1;
}

/**
 * Where a streaming read puts its rows (`stream.ts`): the destination columns hold `capacity` rows, and
 * `flush(rows)` is called each time they are full (and once with the rest at the end of a file), after
 * which writing starts again at row 0. Without a sink the rows of a file land one after another.
 */
export interface RowSink {
  readonly capacity: number;
  flush(rows: number): void;
}

/** A part of a CSV file: bytes [start, end), its first line numbered `firstLine`. */
export interface CsvRange {
  readonly start: number;
  readonly end: number;
  readonly firstLine: number;
}

/**
 * Parses a range of a CSV file: every wanted cell into `dests[column][offset + row]`. Returns the
 * data rows and the lines read (blank ones too). `dests[c]` is null for a column that is only counted
 * (not wanted).
 */
export function parseCsvRange(
  head: CsvHead,
  dests: readonly (Float64Array | null)[],
  offset: number,
  range: CsvRange,
  sink?: RowSink,
): { rows: number; lines: number } {
  const { source, separator: sepByte, header } = head;
  const sep = String.fromCharCode(sepByte);
  const width = header.length;
  let lineNo = range.firstLine - 1;
  let r = 0;
  let flushed = 0; // rows handed to the sink; row r is written at offset + r − flushed

  /** The exact rules of csv.ts, for a line the byte-level path does not take. */
  const slowLine = (line: string): boolean => {
    if (isBlank(line)) return false;
    const no = lineNo;
    const where = () => `${source}: line ${no}`;
    const fields = splitRecord(line, sep, where);
    if (fields.length !== width) {
      throw new CsvError(`${where()}: has ${fields.length} fields but the header has ${width}`);
    }
    for (let c = 0; c < width; c++) {
      const d = dests[c];
      if (d) d[offset + r - flushed] = numericCell(fields[c]!, where, header[c]!);
    }
    return true;
  };
  const line = (b: Buffer, s: number, e: number): boolean => {
    const k = fastLine(b, s, e, sepByte, dests, width, offset + r - flushed, POW10);
    return k === -1 ? slowLine(b.toString('utf8', s, e)) : k === 1;
  };

  if (range.end <= range.start) return { rows: 0, lines: 0 };
  const fd = openSync(head.path, 'r');
  try {
    forEachLine(readSync, fd, range.start, range.end, CHUNK, (b, s, e) => {
      lineNo++;
      if (lineNo > head.headerLine && line(b, s, e) && ++r - flushed === sink?.capacity) {
        sink.flush(sink.capacity);
        flushed = r;
      }
      return true;
    });
  } finally {
    closeSync(fd);
  }
  if (sink && r > flushed) sink.flush(r - flushed);
  return { rows: r, lines: lineNo - (range.firstLine - 1) };
}

/**
 * The worker's program: reads its range with {@link forEachLine}, runs {@link fastLine} on each line and
 * stops at the first line that needs the string path, saying where, so the main thread goes on from
 * there with the full rules. Source text rather than a module file, so that it runs the same from
 * the image's one-file bundle, under tsx and under vitest.
 */
const PARSE_JOB = `(w, require) => {
const { openSync, readSync, closeSync } = require('node:fs');
var __name = (f) => f;
const fastLine = ${fastLine.toString()};
const forEachLine = ${forEachLine.toString()};
const dests = w.columns.map((c) => (c ? new Float64Array(c.buffer, c.byteOffset, c.length) : null));
const fd = openSync(w.path, 'r');
let rows = 0, lineNo = w.firstLine - 1, stop = null;
try {
  forEachLine(readSync, fd, w.start, w.end, ${CHUNK}, (b, s, e, at) => {
    lineNo++;
    const k = fastLine(b, s, e, w.sep, dests, w.width, w.offset + rows, w.pow10);
    if (k === -1) {
      stop = { byte: at, line: lineNo };
      return false;
    }
    rows += k;
    return true;
  });
} finally {
  closeSync(fd);
}
return { rows, stop };
}`;

/**
 * Parses a CSV file into the matrix, its second half in a worker thread while this thread parses
 * the first when the file is large (the split is at a line start found by the first pass). Rows land
 * at `offset`; the second half is moved up if the first held empty lines.
 */
async function parseCsvInto(
  head: CsvHead,
  dests: readonly (Float64Array | null)[],
  offset: number,
  sink?: RowSink,
): Promise<number> {
  const split = head.split;
  let rows: number;
  if (!split || sink || !dests.every((d) => d === null || d.buffer instanceof SharedArrayBuffer)) {
    rows = parseCsvRange(head, dests, offset, { start: 0, end: head.size, firstLine: 1 }, sink).rows;
  } else {
    const allotted = split.line - 1 - head.headerLine;
    // On the worker the fit will use: one isolate and one start-up for both.
    const second = runOnFitWorker<{ rows: number; stop: { byte: number; line: number } | null }>(
      Math.max(2, defaultFitThreads(head.maxRows)),
      PARSE_JOB,
      {
        path: head.path,
        start: split.byte,
        end: head.size,
        firstLine: split.line,
        sep: head.separator,
        width: head.header.length,
        offset: offset + allotted,
        pow10: POW10,
        columns: dests.map((d) => d && { buffer: d.buffer, byteOffset: d.byteOffset, length: d.length }),
      },
    );
    let first: number;
    try {
      first = parseCsvRange(head, dests, offset, { start: 0, end: split.byte, firstLine: 1 }).rows;
    } catch (e) {
      await second.catch(() => {}); // the worker's half is done before the pool is used again
      throw e;
    }
    const done = await second;
    let tail = done.rows;
    if (done.stop) {
      tail += parseCsvRange(head, dests, offset + allotted + done.rows, {
        start: done.stop.byte,
        end: head.size,
        firstLine: done.stop.line,
      }).rows;
    }
    if (first < allotted) {
      for (const d of new Set(dests)) {
        if (d) d.copyWithin(offset + first, offset + allotted, offset + allotted + tail);
      }
    }
    rows = first + tail;
  }
  if (rows === 0) throw new CsvError(`${head.source}: the file has a header but no data rows`);
  return rows;
}

/** Parquet files are read by DuckDB, loaded only when a channel holds one (it costs ~100 ms). */
export async function duckdb() {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  return {
    run: (sql: string) => connection.run(sql),
    // Streamed, so DuckDB holds one vector at a time rather than a second copy of the table.
    stream: (sql: string) => connection.stream(sql),
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}
export type Connection = Awaited<ReturnType<typeof duckdb>>;

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;
const sqlIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;
const NUMERIC_TYPE =
  /^(DOUBLE|FLOAT|REAL|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|DECIMAL\(.*\))$/;

async function scanParquet(
  file: ChannelFile,
  hash: Hash | undefined,
  db: Connection,
): Promise<ParquetHead> {
  if (hash) for (const chunk of fileChunks(file.path)) hash.update(chunk);
  try {
    const from = `read_parquet(${sqlString(file.path)})`;
    const described = (await (await db.run(`DESCRIBE SELECT * FROM ${from}`)).getRowObjectsJS()) as {
      column_name: string;
      column_type: string;
    }[];
    const counted = await (await db.run(`SELECT count(*)::DOUBLE AS n FROM ${from}`)).getRowObjectsJS();
    const rows = Number(counted[0]!['n']);
    if (rows === 0) throw new CsvError(`${file.key}: the file has columns but no data rows`);
    return {
      kind: 'parquet',
      path: file.path,
      source: file.key,
      header: described.map((d) => d.column_name),
      types: described.map((d) => d.column_type),
      rows,
      maxRows: rows,
    };
  } catch (e) {
    if (e instanceof CsvError) throw e;
    throw new CsvError(`${file.key}: cannot be read as Parquet: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** A full garbage collection on demand (the `--expose-gc` function, obtained at run time). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function parseParquetInto(
  head: ParquetHead,
  dests: readonly (Float64Array | null)[],
  offset: number,
  db: Connection,
  sink?: RowSink,
): Promise<number> {
  const wanted = head.header.map((name, c) => ({ name, c })).filter(({ c }) => dests[c] !== null);
  // Text columns are read as text and held to the CSV rules, so "1.5" is a number and "abc" names its row.
  const select = wanted
    .map(({ name, c }) =>
      NUMERIC_TYPE.test(head.types[c]!) ? `${sqlIdent(name)}::DOUBLE` : `${sqlIdent(name)}::VARCHAR`,
    )
    .join(', ');
  const result = await db.stream(`SELECT ${select} FROM read_parquet(${sqlString(head.path)})`);
  let r = 0;
  let flushed = 0; // rows handed to the sink; row r is written at offset + r − flushed
  const collect = collector();
  for (let chunks = 1; ; chunks++) {
    // Each chunk's vectors live in native memory that V8 does not see, so nothing prompts a
    // collection and a million rows would keep ~170 MB of spent chunks alive: collect every 64.
    if (chunks % 64 === 0) collect();
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const n = chunk.rowCount;
    if (sink && r + n - flushed > sink.capacity) {
      // DuckDB hands out at most 2,048 rows at a time; a sink holds a whole number of such chunks.
      if (n > sink.capacity) throw new Error(`a DuckDB chunk of ${n} rows exceeds the sink's ${sink.capacity}`);
      sink.flush(r - flushed);
      flushed = r;
    }
    const at = offset - flushed;
    wanted.forEach(({ name, c }, k) => {
      const d = dests[c]!;
      const vector = chunk.getColumnVector(k);
      for (let i = 0; i < n; i++) {
        const value = vector.getItem(i) as number | string | null;
        if (typeof value === 'number' && Number.isFinite(value)) {
          d[at + r + i] = value;
          continue;
        }
        // No closure per cell on the common path: creating one costs more than reading the value.
        const where = () => `${head.source}: row ${r + i + 1}`;
        if (typeof value === 'string') d[at + r + i] = numericCell(value, where, name);
        else throw new CsvError(`${where()}, column "${name}": ${parquetCellProblem(value)}`);
      }
    });
    r += n;
  }
  if (sink && r > flushed) sink.flush(r - flushed);
  return r;
}

/** A channel's files, scanned: each file's head, the data version, DuckDB when a file is Parquet. */
export interface ChannelHeads {
  readonly heads: readonly Head[];
  readonly versions: ReadFileVersion[];
  readonly db: Connection | undefined;
}

/**
 * The first pass over a channel: every file's head (columns, separator, a bound on its rows) and hash.
 * The caller closes `db` when it is done with the channel.
 */
export async function readHeads(files: readonly ChannelFile[], options: ReadChannelOptions): Promise<ChannelHeads> {
  let db: Connection | undefined;
  const heads: Head[] = [];
  const versions: ReadFileVersion[] = [];
  try {
    for (const f of files) {
      const hash = options.hash === false ? undefined : createHash('sha256');
      let parquet: boolean;
      try {
        parquet = await startsWithParquetMagic(f.path);
      } catch (err) {
        throw new ContractError(`cannot read ${f.path}: ${(err as Error).message}`);
      }
      if (parquet) db ??= await duckdb();
      heads.push(
        parquet
          ? await scanParquet(f, hash, db!)
          : await scanCsv(f, hash, options.parallelMinBytes ?? PARALLEL_MIN_BYTES, options.csvHeadOnly === true),
      );
      if (hash) versions.push({ key: f.key, sha256: hash.digest('hex') });
    }
  } catch (e) {
    db?.close();
    throw e;
  }
  return { heads, versions, db };
}

/**
 * Parses one file's wanted columns into `dests` (see {@link RowSink} for where the rows go); returns
 * its data rows.
 */
export function parseInto(
  head: Head,
  dests: readonly (Float64Array | null)[],
  offset: number,
  db: Connection | undefined,
  sink?: RowSink,
): Promise<number> {
  return head.kind === 'csv' ? parseCsvInto(head, dests, offset, sink) : parseParquetInto(head, dests, offset, db!, sink);
}

/**
 * Reads every file's head, allocates the matrix once, then fills it file by file. `names` are the
 * design columns (features and target) given the heads; other columns are only counted. `fit` says
 * the matrix is about to be fitted (its threads are started as the read ends).
 */
async function readColumns(
  files: readonly ChannelFile[],
  layout: (heads: readonly Head[]) => { featureNames: readonly string[]; target: string },
  options: ReadChannelOptions,
  fit = false,
): Promise<ReadChannelResult> {
  const { heads, versions, db } = await readHeads(files, options);
  const { featureNames, target } = layout(heads);
  checkSameColumns(heads, [...featureNames, target]);
  const p = featureNames.length;
  const cap = heads.reduce((n, h) => n + h.maxRows, 0);
  // Zero-filled and untouched, the slack of an upper bound costs address space, not memory. Shared
  // when a worker thread writes into it or the fit's threads will read it (then centred in place);
  // in the fit's SIMD kernel memory where there is one, so the fit runs them without a copy.
  const shared = cap >= PARALLEL_FIT_MIN_ROWS || heads.some((h) => h.kind === 'csv' && h.split);
  const alloc = (n: number) => fitMatrixArray(n, shared);
  const data = alloc(cap * p);
  const yAll = alloc(cap);
  let at = 0;
  for (const h of heads) {
    const dests = h.header.map((name) => {
      if (name === target) return yAll;
      const j = featureNames.indexOf(name);
      if (j !== -1) return data.subarray(j * cap, (j + 1) * cap);
      return null;
    });
    at += await parseInto(h, dests, at, db);
  }
  db?.close();
  // The fit's worker threads boot while the fit centres the matrix rather than after it; not during
  // the parse, where they would add their memory to the parse worker's at the peak.
  if (fit) prewarmFitThreads(defaultFitThreads(at));
  const rows = at;
  if (rows < cap) {
    for (let j = 1; j < p; j++) data.copyWithin(j * rows, j * cap, j * cap + rows);
  }
  return {
    set: {
      featureNames,
      target,
      X: { rows, cols: p, data: rows < cap ? data.subarray(0, rows * p) : data },
      y: rows < cap ? yAll.subarray(0, rows) : yAll,
    },
    versions,
  };
}

/** The legacy whole-file read, run only to word a failure exactly as it has always been worded. */
export async function legacyTables(files: readonly ChannelFile[], numericColumns?: readonly string[]) {
  const tables: CsvTable[] = [];
  for (const f of files) {
    const text = (await readFile(f.path)).toString('utf8');
    tables.push(parseCsv(text, { source: f.key, ...(numericColumns ? { numericColumns } : {}) }));
  }
  return tables;
}

export async function withLegacyMessages<T>(
  files: readonly ChannelFile[],
  read: () => Promise<T>,
  legacy: () => Promise<unknown>,
): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    let parquet = false;
    for (const f of files) parquet ||= await startsWithParquetMagic(f.path).catch(() => false);
    if (!parquet) await legacy(); // throws csv.ts's own message
    throw e;
  }
}

/**
 * Reads a training channel: every column except the target is a feature, in the first file's order;
 * every file must have the same columns (in any order); every cell of every column must be a number.
 *
 * @example
 * const { set } = await readTrainingChannel(await listChannelFiles(dir, 'train'), 'quality');
 */
export async function readTrainingChannel(
  files: readonly ChannelFile[],
  target: string,
  options: ReadChannelOptions = {},
): Promise<ReadChannelResult> {
  if (files.length === 0) throw new CsvError('no data: the channel holds no CSV file');
  return withLegacyMessages(
    files,
    () =>
      readColumns(files, (heads) => ({ featureNames: trainingFeatureNames(heads[0], target), target }), options, true),
    async () => toTrainingSet(await legacyTables(files), target),
  );
}

/**
 * Reads a validation channel for a model: only `featureNames` and `target` are read (by name, in any
 * order); other columns are ignored but each file must still have the first file's columns.
 *
 * @example
 * const { set } = await readDesignChannel(files, model.features, model.target);
 */
export async function readDesignChannel(
  files: readonly ChannelFile[],
  featureNames: readonly string[],
  target: string,
  options: ReadChannelOptions = {},
): Promise<ReadChannelResult> {
  if (files.length === 0) throw new CsvError('no data: the channel holds no CSV file');
  const names = [...featureNames, target];
  return withLegacyMessages(
    files,
    () => readColumns(files, () => ({ featureNames, target }), options),
    async () => toDesign(await legacyTables(files, names), featureNames, target),
  );
}

/**
 * The Gram path's parse of a channel into moments, its CSV files on several threads (`stream.ts`).
 *
 * A CSV file is cut into ranges of about {@link GRAM_RANGE_BYTES} bytes: nominal boundaries at fixed
 * fractions of the file's data bytes, each moved to the next line start. The ranges depend only on
 * the file and the range size, never on the thread count or on timing. Threads (this one and
 * workers) claim ranges one at a time from a shared counter; each range is parsed by the byte-level
 * parser (`columnar.ts`'s `fastLine`) into chunks of `GRAM_CHUNK_ROWS` rows, counted from the range's
 * start, and each chunk's centred co-moments are merged into the range's own pairwise stack
 * (`gram.ts`'s `momentCode`, whose source the workers run, so each range gives the same bits on any
 * thread). The ranges are then taken in file order and merged in that order. The result is therefore
 * the same on 1, 2 or 4 threads and from run to run.
 *
 * A range whose byte-level parse meets anything unusual (a quoted or padded cell, a bad cell, a
 * ragged row, a chunk sum that overflows) is given up by its thread and parsed again, after the
 * parallel phase and in file order, on this thread by `csv.ts`'s rules (`parseCsvRange`), with the
 * range's true first line and row number, known by then from the ranges before it. So a failure names
 * the same file, line, column and value as the one-thread parse, and the first problem in file order
 * is the one reported. Blank lines are skipped as there.
 *
 * Each chunk is also written to the spill file (the rows the training metrics are computed from after
 * the fit): every thread writes its chunks to numbered slots of one file, and the metrics pass reads
 * them back in file, range and chunk order.
 *
 * While the workers parse, this thread hashes the file (the data version), then claims ranges too.
 *
 * @example
 * const parsed = await momentsOfChannel(scanned, files, names, { hash: true });
 * const stats = gramStats(parsed.acc);
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import {
  CHUNK,
  type ChannelHeads,
  type CsvHead,
  fastLine,
  forEachLine,
  type Head,
  parseCsvRange,
  parseInto,
  POW10,
  type ReadFileVersion,
} from './columnar';
import { startWorker } from '../shared/worker-threads';
import type { ChannelFile } from './contract';
import { CsvError } from './csv';
import { MomentAccumulator, momentCode, type MomentState } from './gram';

/**
 * Bytes per range of a CSV file (before each boundary moves to a line start). 16 MiB is about 40,000
 * rows of 20 17-digit features: 25 ranges in a 400 MB file, enough for threads to share the work
 * evenly, few enough that the partial chunk at each range's end and the merges cost nothing.
 */
export const GRAM_RANGE_BYTES = 16 * 2 ** 20;

/**
 * Channels with at least this many CSV bytes are parsed by worker threads too: a worker costs ~30–50 ms
 * to start and ~10–20 MB, and parses ~40 MB/s of 17-digit numbers on this machine (loaded).
 */
export const GRAM_PARALLEL_MIN_BYTES = 16 * 2 ** 20;

/** What a thread hands back for one range. */
interface RangeResult {
  readonly k: number;
  readonly start: number;
  readonly end: number;
  /** Absent when the thread gave the range up (see the module comment). */
  readonly done?: {
    readonly lines: number;
    readonly state: MomentState;
    readonly chunks: readonly { slot: number; rows: number }[];
  };
}

/** One CSV file's ranges to parse, as sent to every thread. */
interface RangeTask {
  readonly path: string;
  readonly dataStart: number;
  readonly size: number;
  /** Nominal boundaries: range k is [bounds[k], bounds[k + 1]), each moved to a line start. */
  readonly bounds: readonly number[];
  readonly sep: number;
  readonly width: number;
  /** For each column of the file, its index among the design columns, or -1. */
  readonly map: readonly number[];
  readonly d: number;
  readonly capacity: number;
  readonly chunkBytes: number;
  readonly pow10: readonly number[];
  /** Int32 [next range, next spill slot, spill failed]. */
  readonly control: SharedArrayBuffer;
  /** The spill file's descriptor (shared by the process's threads), or -1. */
  readonly spillFd: number;
}

interface RangeHelpers {
  readonly fs: Pick<typeof fs, 'openSync' | 'readSync' | 'writeSync' | 'closeSync'>;
  readonly fastLine: typeof fastLine;
  readonly forEachLine: typeof forEachLine;
  readonly moments: ReturnType<typeof momentCode>;
}

/**
 * A thread's work on one file: claims ranges until none is left and returns what it did of each.
 * Self-contained (workers run its source text); its helpers come as an argument.
 */
function rangeJob(t: RangeTask, h: RangeHelpers): RangeResult[] {
  const claims = new Int32Array(t.control);
  const d = t.d;
  const cap = t.capacity;
  const buffer = new Float64Array(cap * d);
  const columns: Float64Array[] = [];
  for (let j = 0; j < d; j++) columns.push(buffer.subarray(j * cap, (j + 1) * cap));
  const dests = t.map.map((j) => (j === -1 ? null : columns[j]!));
  const z = new Float64Array(cap * d);
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const probe = Buffer.allocUnsafe(1 << 16);
  const fd = h.fs.openSync(t.path, 'r');

  /** The first line start at or after byte x of the data. */
  const lineStart = (x: number): number => {
    if (x <= t.dataStart) return t.dataStart;
    for (let pos = x - 1; pos < t.size; ) {
      const n = h.fs.readSync(fd, probe, 0, probe.length, pos);
      if (n === 0) break;
      const nl = probe.subarray(0, n).indexOf(10);
      if (nl !== -1) return pos + nl + 1;
      pos += n;
    }
    return t.size;
  };

  const spill = (m: number, chunks: { slot: number; rows: number }[]): void => {
    if (t.spillFd === -1 || Atomics.load(claims, 2) === 1) return;
    const slot = Atomics.add(claims, 1, 1);
    try {
      const at = slot * bytes.length;
      for (let off = 0; off < bytes.length; ) {
        off += h.fs.writeSync(t.spillFd, bytes, off, bytes.length - off, at + off);
      }
      chunks.push({ slot, rows: m });
    } catch {
      Atomics.store(claims, 2, 1); // a full disk: the metrics pass parses the channel again
    }
  };

  const one = (k: number): RangeResult => {
    const start = lineStart(t.bounds[k]!);
    const end = lineStart(t.bounds[k + 1]!);
    const state: MomentState = {
      d,
      stack: [],
      first: new Float64Array(d),
      constant: new Uint8Array(d).fill(1),
      rows: 0,
    };
    const chunks: { slot: number; rows: number }[] = [];
    let lines = 0;
    let r = 0;
    let ok = true;
    const flush = (m: number): boolean => {
      if (h.moments.add(state, columns, m, z) !== -1) return false;
      spill(m, chunks);
      return true;
    };
    if (end > start) {
      h.forEachLine(h.fs.readSync, fd, start, end, t.chunkBytes, (b, s, e) => {
        lines++;
        const v = h.fastLine(b, s, e, t.sep, dests, t.width, r, t.pow10);
        if (v === -1) {
          ok = false;
          return false;
        }
        if (v === 1 && ++r === cap) {
          r = 0;
          if (!flush(cap)) {
            ok = false;
            return false;
          }
        }
        return true;
      });
      if (ok && r > 0 && !flush(r)) ok = false;
    }
    return ok ? { k, start, end, done: { lines, state, chunks } } : { k, start, end };
  };

  const results: RangeResult[] = [];
  try {
    for (;;) {
      const k = Atomics.add(claims, 0, 1);
      if (k >= t.bounds.length - 1) break;
      results.push(one(k));
    }
  } finally {
    h.fs.closeSync(fd);
  }
  return results;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
var __name = (f) => f;
const helpers = {
  fs,
  fastLine: ${fastLine.toString()},
  forEachLine: ${forEachLine.toString()},
  moments: (${momentCode.toString()})(),
};
const rangeJob = ${rangeJob.toString()};
parentPort.on('message', (task) => {
  let out;
  try {
    out = { ok: rangeJob(task, helpers) };
  } catch (e) {
    out = { error: String((e && e.stack) || e) };
  }
  parentPort.postMessage(out);
});
`;

const mainHelpers: RangeHelpers = { fs, fastLine, forEachLine, moments: momentCode() };

/** The worker threads of one channel's parse, started once and ended with it. */
class RangeWorkers {
  private readonly workers: Worker[] = [];

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      this.workers.push(
        startWorker(WORKER_SOURCE, {
          eval: true,
          // Typed arrays and read buffers live outside the heap; the heap holds the 17-digit numbers' strings.
          resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
        }),
      );
    }
  }

  /** Posts the task to every worker; resolves to all their results. */
  run(task: RangeTask): Promise<RangeResult[][]> {
    return Promise.all(
      this.workers.map(
        (w) =>
          new Promise<RangeResult[]>((resolve, reject) => {
            const onError = (e: Error) => reject(e);
            w.once('error', onError);
            w.once('message', (m: { ok?: RangeResult[]; error?: string }) => {
              w.off('error', onError);
              if (m.error !== undefined) reject(new Error(`a CSV parse thread failed: ${m.error}`));
              else resolve(m.ok!);
            });
            w.postMessage(task);
          }),
      ),
    );
  }

  async end(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** One spill file, written in numbered slots of one chunk by every thread; unlinked once opened. */
class SlotSpill {
  readonly fd: number;
  private readonly path: string;

  constructor() {
    this.path = join(tmpdir(), `mlops-train-${process.pid}-${randomBytes(6).toString('hex')}.f64`);
    try {
      this.fd = fs.openSync(this.path, 'wx+', 0o600);
    } catch {
      this.fd = -1;
      return;
    }
    // Unlinked at once: the open descriptor keeps the data, and the disk space returns when the
    // process ends, however it ends (a killed job leaves no 800 MB file behind).
    try {
      fs.rmSync(this.path);
    } catch {
      // a platform that cannot unlink an open file: release() removes it
    }
  }

  /** Writes `bytes` to `slot`; false when it could not (then the spill is given up). */
  write(bytes: Uint8Array, slot: number): boolean {
    try {
      const at = slot * bytes.length;
      for (let off = 0; off < bytes.length; ) off += fs.writeSync(this.fd, bytes, off, bytes.length - off, at + off);
      return true;
    } catch {
      return false;
    }
  }

  /** Reads `slot` into `bytes`. */
  read(bytes: Uint8Array, slot: number): void {
    const at = slot * bytes.length;
    for (let off = 0; off < bytes.length; ) {
      const n = fs.readSync(this.fd, bytes, off, bytes.length - off, at + off);
      if (n === 0) throw new Error(`the spill file ${this.path} ended early`);
      off += n;
    }
  }

  release(): void {
    if (this.fd !== -1) fs.closeSync(this.fd);
    fs.rmSync(this.path, { force: true });
  }
}

export interface ChannelMomentsOptions {
  /**
   * Hash each file for the data version.
   * @default true
   */
  readonly hash?: boolean;
  /**
   * Threads that parse CSV ranges, this one included (workers only for channels of at least
   * {@link GRAM_PARALLEL_MIN_BYTES} of CSV). The result does not depend on it.
   * @default min(4, available cores)
   */
  readonly threads?: number;
  /** @default GRAM_RANGE_BYTES */
  readonly rangeBytes?: number;
  /** Workers start from this many CSV bytes in the channel. @default GRAM_PARALLEL_MIN_BYTES */
  readonly parallelMinBytes?: number;
  /** Write the rows to a spill file for a second pass (`replay`). @default true */
  readonly spill?: boolean;
}

/** What the parse leaves: the statistics, the data version, and the rows for a second pass. */
export interface ChannelMoments {
  readonly acc: MomentAccumulator;
  readonly versions: ReadFileVersion[];
  /** Design columns of the chunk buffer `replay` fills. */
  readonly columns: readonly Float64Array[];
  /** Reads the spilled rows back into `columns`, chunk by chunk in channel order; false without a spill. */
  replay(onChunk: (rows: number) => void): boolean;
  release(): void;
}

/**
 * Parses a scanned channel (`readHeads` with `csvHeadOnly` and no hash) into the moments of the
 * design columns `names` (features, then the target), CSV files on several threads (see the module
 * comment), Parquet files through DuckDB (on one DuckDB thread) on this thread.
 *
 * @example
 * const parsed = await momentsOfChannel(scanned, files, names, 16_384, {});
 */
export async function momentsOfChannel(
  scanned: ChannelHeads,
  files: readonly ChannelFile[],
  names: readonly string[],
  capacity: number,
  options: ChannelMomentsOptions,
): Promise<ChannelMoments> {
  const d = names.length;
  const buffer = new Float64Array(capacity * d);
  const columns = Array.from({ length: d }, (_, j) => buffer.subarray(j * capacity, (j + 1) * capacity));
  const bytes = new Uint8Array(buffer.buffer);
  const spill = options.spill === false ? null : new SlotSpill();
  const control = new SharedArrayBuffer(3 * 4);
  const claims = new Int32Array(control);
  const order: { slot: number; rows: number }[] = [];
  const parts: MomentState[] = [];
  const versions: ReadFileVersion[] = [];
  const csvBytes = scanned.heads.reduce((n, h) => n + (h.kind === 'csv' ? h.size : 0), 0);
  const threads = Math.max(1, Math.floor(options.threads ?? Math.min(4, availableParallelism())));
  const parallelFrom = options.parallelMinBytes ?? GRAM_PARALLEL_MIN_BYTES;
  const workers = threads > 1 && csvBytes >= parallelFrom ? new RangeWorkers(threads - 1) : null;
  const rangeBytes = options.rangeBytes ?? GRAM_RANGE_BYTES;
  let rowBase = 0;

  /** Spills the chunk buffer from this thread. */
  const spillHere = (m: number) => {
    if (!spill || spill.fd === -1 || claims[2] === 1) return;
    const slot = Atomics.add(claims, 1, 1);
    if (spill.write(bytes, slot)) order.push({ slot, rows: m });
    else Atomics.store(claims, 2, 1);
  };
  const hashFile = (f: ChannelFile) => {
    if (options.hash === false) return;
    const hash = createHash('sha256');
    const fd = fs.openSync(f.path, 'r');
    try {
      const b = Buffer.allocUnsafe(CHUNK);
      for (let n; (n = fs.readSync(fd, b, 0, CHUNK, null)) > 0; ) hash.update(b.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
    versions.push({ key: f.key, sha256: hash.digest('hex') });
  };
  /** An accumulator, the head's destinations in the chunk buffer and a sink into both and the spill. */
  const parseHere = (head: Head) => {
    const acc = new MomentAccumulator(d, rowBase);
    const dests = head.header.map((name) => {
      const j = names.indexOf(name);
      return j === -1 ? null : columns[j]!;
    });
    const sink = {
      capacity,
      flush: (m: number) => {
        acc.add(columns, m, names);
        spillHere(m);
      },
    };
    return { acc, dests, sink };
  };

  try {
    // One DuckDB thread: each of its threads holds a row group in decoding (~20 MiB at 21 float64
    // columns of DuckDB's 122,880 rows). Measured at 1,000,000 × 20 Parquet (loaded, 2026-12-06):
    // peak 178 MiB against 214–225 MiB on two threads, for the same CPU time (1.7–1.9 s).
    if (scanned.db) await scanned.db.run('SET threads = 1');
    for (const [i, head] of scanned.heads.entries()) {
      const file = files[i]!;
      let fileRows = 0;
      if (head.kind === 'parquet') {
        hashFile(file);
        const { acc, dests, sink } = parseHere(head);
        fileRows = await parseInto(head, dests, 0, scanned.db, sink);
        parts.push(acc.snapshot());
      } else {
        const results = await parseCsvFile(head, file);
        let firstLine = head.headerLine + 1;
        for (const r of results) {
          let lines: number;
          let state: MomentState;
          if (r.done) {
            ({ lines, state } = r.done);
            order.push(...r.done.chunks);
          } else {
            const { acc, dests, sink } = parseHere(head);
            const range = { start: r.start, end: r.end, firstLine };
            lines = parseCsvRange(head, dests, 0, range, sink).lines;
            state = acc.snapshot();
          }
          parts.push(state);
          fileRows += state.rows;
          rowBase += state.rows;
          firstLine += lines;
        }
        if (fileRows === 0) throw new CsvError(`${head.source}: the file has a header but no data rows`);
        continue;
      }
      rowBase += fileRows;
    }
  } catch (e) {
    spill?.release();
    await workers?.end();
    throw e;
  }
  await workers?.end();

  /** Parses one CSV file's ranges on every thread; the results in range order. */
  async function parseCsvFile(head: CsvHead, file: ChannelFile): Promise<RangeResult[]> {
    const data = head.size - head.dataStart;
    const count = Math.max(1, Math.ceil(data / rangeBytes));
    const bounds = Array.from({ length: count + 1 }, (_, k) => head.dataStart + Math.floor((k * data) / count));
    Atomics.store(claims, 0, 0);
    const task: RangeTask = {
      path: head.path,
      dataStart: head.dataStart,
      size: head.size,
      bounds,
      sep: head.separator,
      width: head.header.length,
      map: head.header.map((name) => names.indexOf(name)),
      d,
      capacity,
      chunkBytes: CHUNK,
      pow10: POW10,
      control,
      spillFd: spill?.fd ?? -1,
    };
    const theirs = workers && count > 1 ? workers.run(task) : Promise.resolve([]);
    theirs.catch(() => {}); // awaited below; a failure here first must not leave it unhandled
    // Hashing here while the workers parse; then this thread claims ranges too.
    hashFile(file);
    const mine = rangeJob(task, mainHelpers);
    const all = [...mine, ...(await theirs).flat()];
    return all.sort((a, b) => a.k - b.k);
  }

  let released = false;
  return {
    acc: MomentAccumulator.of(d, parts),
    versions,
    columns,
    replay(onChunk) {
      if (!spill || spill.fd === -1 || claims[2] === 1) return false;
      for (const { slot, rows } of order) {
        spill.read(bytes, slot);
        onChunk(rows);
      }
      return true;
    },
    release() {
      if (released) return;
      released = true;
      spill?.release();
    },
  };
}

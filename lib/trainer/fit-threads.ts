/**
 * The passes over the rows that coordinate descent makes (a column's dot product with the residual,
 * fused with the previous coordinate's residual update; the duality gap's dot products), run over
 * fixed blocks of rows, optionally by worker threads that share the matrix and the residual through
 * SharedArrayBuffers.
 *
 * Why the results do not depend on the thread count: a pass is cut into blocks of {@link BLOCK_ROWS}
 * rows whatever the number of threads, each block's partial sum is computed by the same function
 * (whichever thread runs it: JavaScript arithmetic is IEEE double with no fused operations, so the
 * same operations give the same bits on any thread), and the partial sums are added in block order by
 * the calling thread. Threads only decide who computes which block. A fit on 1, 2 or 4 threads, or
 * on none (the caller's thread alone), is therefore the same to the last bit; a matrix of at most
 * one block is summed exactly as a plain four-accumulator loop.
 *
 * Why blocking waits: one coordinate's update depends on the previous one's dot product, so every
 * coordinate is a barrier (the caller publishes a command, the workers run their blocks, the caller
 * runs its own and waits). The caller blocks in `Atomics.wait` (allowed on Node's main thread), so
 * `fitElasticNet` stays synchronous; a worker that has nothing to do sleeps in `Atomics.wait` and
 * costs no CPU. The pool is kept between fits (worker start-up is 30–60 ms) and is
 * `unref`ed, so it never keeps a process alive.
 *
 * @example
 * const pass = blockPasses(shared, 200_000, 20, 2);
 * const xr = pass.updateDot(prevColumn, delta, column);
 */
import { availableParallelism, loadavg } from 'node:os';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { startWorker } from '../shared/worker-threads';
import {
  type FitKernels,
  type KernelMemory,
  instantiateKernels,
  kernelBuffer,
  kernelMemory,
  kernelMemoryOf,
  kernelRoom,
  kernelModule,
} from './wasm-kernels';

/** Rows per block: a multiple of 4 (the accumulators), 64 KiB of one column. */
export const BLOCK_ROWS = 8192;

/**
 * From this many rows a fit on the JavaScript kernels may run on worker threads by default (each
 * pass on one thread or on every core, whichever was measured faster: {@link adaptivePasses}). Measured
 * on a 2-core machine (bench/train/threads.ts): below ~50,000 rows a coordinate's pass (~40 µs) is
 * too short for the barrier (a futex wake-up, 10–50 µs) to pay.
 */
export const PARALLEL_FIT_MIN_ROWS = 65_536;

/**
 * From this many rows a fit on the SIMD kernels may run on worker threads by default, epoch by epoch
 * where measured faster ({@link adaptivePasses}). Below it a coordinate's SIMD pass on one thread takes
 * ~30 µs or less (bench/train/profile.ts), a few barriers' worth.
 */
export const PARALLEL_SIMD_FIT_MIN_ROWS = 98_304;

/**
 * The most threads a default fit of `rows` rows on the SIMD kernels (`simd`) or the JavaScript ones
 * uses: every core (at most 4: more threads, more barriers) from the thresholds above, else 1. A
 * default fit chooses between one thread and this many pass by pass ({@link adaptivePasses}).
 */
export function defaultFitThreads(rows: number, simd = kernelModule() !== undefined): number {
  const cores = Math.min(4, availableParallelism());
  return rows >= (simd ? PARALLEL_SIMD_FIT_MIN_ROWS : PARALLEL_FIT_MIN_ROWS) ? cores : 1;
}

/** Whether a fit runs the SIMD kernels (see {@link fitArrays}): it can when `simd`, and they are here. */
export function fitRunsSimd(data: Float64Array, inPlace: boolean, simd: boolean): boolean {
  return simd && kernelModule() !== undefined && (!inPlace || kernelMemoryOf(data.buffer) !== undefined);
}

// ---- kernels: self-contained, because worker threads run their source text --------------------
// The worker declares them from that text, under the names a bundler may have given them, which are
// the names `runBlocks` calls them by.

/** Σ a[i]·b[i] over [s, e) with four accumulators (one running sum bounds a scalar loop in V8). */
export function blockDot(a: Float64Array, b: Float64Array, s: number, e: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = s;
  const end4 = e - ((e - s) % 4);
  for (; i < end4; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (; i < e; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + s2 + s3;
}

/** R −= d·xPrev over [s, e), and returns xNext·R with the updated R: each R[i] read and written once. */
function blockUpdateDot(
  R: Float64Array,
  xPrev: Float64Array,
  d: number,
  xNext: Float64Array,
  s: number,
  e: number,
): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = s;
  const end4 = e - ((e - s) % 4);
  for (; i < end4; i += 4) {
    const r0 = R[i]! - d * xPrev[i]!;
    const r1 = R[i + 1]! - d * xPrev[i + 1]!;
    const r2 = R[i + 2]! - d * xPrev[i + 2]!;
    const r3 = R[i + 3]! - d * xPrev[i + 3]!;
    R[i] = r0;
    R[i + 1] = r1;
    R[i + 2] = r2;
    R[i + 3] = r3;
    s0 += xNext[i]! * r0;
    s1 += xNext[i + 1]! * r1;
    s2 += xNext[i + 2]! * r2;
    s3 += xNext[i + 3]! * r3;
  }
  for (; i < e; i++) {
    const r = R[i]! - d * xPrev[i]!;
    R[i] = r;
    s0 += xNext[i]! * r;
  }
  return s0 + s1 + s2 + s3;
}

/**
 * Σ a[i]·(b[i] − m) over [s, e): a dot product with b centred on the fly, to the same bits as with a
 * centred copy of b (each b[i] − m is the same one rounding), without the copy's memory.
 */
function blockDotCentred(a: Float64Array, b: Float64Array, m: number, s: number, e: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = s;
  const end4 = e - ((e - s) % 4);
  for (; i < end4; i += 4) {
    s0 += a[i]! * (b[i]! - m);
    s1 += a[i + 1]! * (b[i + 1]! - m);
    s2 += a[i + 2]! * (b[i + 2]! - m);
    s3 += a[i + 3]! * (b[i + 3]! - m);
  }
  for (; i < e; i++) s0 += a[i]! * (b[i]! - m);
  return s0 + s1 + s2 + s3;
}

/** R −= d·x over [s, e). */
function blockAxpy(R: Float64Array, x: Float64Array, d: number, s: number, e: number): void {
  for (let i = s; i < e; i++) R[i] -= d * x[i]!;
}

const CMD = { dot: 1, updateDot: 2, axpy: 3, gap: 4, attach: 5, exit: 6, job: 7 } as const;

/** Where a fit's arrays are: a buffer and a byte offset each, `p` columns of `n` rows from `x`. */
interface OpsData {
  readonly x: ArrayBufferLike;
  readonly xOffset: number;
  readonly r: ArrayBufferLike;
  readonly rOffset: number;
  readonly y: ArrayBufferLike;
  readonly yOffset: number;
  readonly yMean: number;
  readonly n: number;
  readonly p: number;
}

/** A fit's passes over rows [s, e) of one block, by the WebAssembly kernels or their JavaScript twins. */
interface BlockOps {
  dot(j: number, s: number, e: number): number;
  updateDot(prev: number, d: number, j: number, s: number, e: number): number;
  axpy(prev: number, d: number, s: number, e: number): void;
  /** R·R. */
  rr(s: number, e: number): number;
  /** R·(y − ȳ). */
  ry(s: number, e: number): number;
}

/**
 * The block operations over `m`: the WebAssembly `kernels` when given (then every array of `m` is in
 * their memory and the offsets are their addresses), else the JavaScript kernels above. Both give the
 * same bits (see `wasm-kernels.ts`).
 */
function makeOps(m: OpsData, kernels: FitKernels | undefined): BlockOps {
  const { n, yMean } = m;
  if (kernels) {
    const x = m.xOffset;
    const r = m.rOffset;
    const y = m.yOffset;
    return {
      dot: (j, s, e) => kernels.dot(x + (j * n + s) * 8, r + s * 8, e - s),
      updateDot: (prev, d, j, s, e) =>
        kernels.updateDot(r + s * 8, x + (prev * n + s) * 8, d, x + (j * n + s) * 8, e - s),
      axpy: (prev, d, s, e) => kernels.axpy(r + s * 8, x + (prev * n + s) * 8, d, e - s),
      rr: (s, e) => kernels.dot(r + s * 8, r + s * 8, e - s),
      ry: (s, e) => kernels.dotCentred(r + s * 8, y + s * 8, yMean, e - s),
    };
  }
  const cols: Float64Array[] = [];
  for (let j = 0; j < m.p; j++) cols.push(new Float64Array(m.x, m.xOffset + j * n * 8, n));
  const R = new Float64Array(m.r, m.rOffset, n);
  const Y = new Float64Array(m.y, m.yOffset, n);
  return {
    dot: (j, s, e) => blockDot(cols[j]!, R, s, e),
    updateDot: (prev, d, j, s, e) => blockUpdateDot(R, cols[prev]!, d, cols[j]!, s, e),
    axpy: (prev, d, s, e) => blockAxpy(R, cols[prev]!, d, s, e),
    rr: (s, e) => blockDot(R, R, s, e),
    ry: (s, e) => blockDotCentred(R, Y, yMean, s, e),
  };
}

/**
 * Runs one command over blocks [b0, b1), writing each block's partial sums to `partials` (the row of
 * quantity k at k·nb). The duality gap's pass gives p + 2 quantities: x_k·R for every column, R·R and
 * R·(y − ȳ), after applying R −= d·x_prev when prev ≥ 0.
 */
function runBlocks(
  cmd: number,
  ops: BlockOps,
  p: number,
  partials: Float64Array,
  n: number,
  nb: number,
  block: number,
  j: number,
  prev: number,
  d: number,
  b0: number,
  b1: number,
): void {
  for (let b = b0; b < b1; b++) {
    const s = b * block;
    const e = Math.min(n, s + block);
    if (cmd === 1) partials[b] = ops.dot(j, s, e);
    else if (cmd === 2) partials[b] = ops.updateDot(prev, d, j, s, e);
    else if (cmd === 3) ops.axpy(prev, d, s, e);
    else if (cmd === 4) {
      // The previous coordinate's pending update first (prev ≥ 0): a block's rows of R are final
      // before its dot products, so this is the bits of an axpy pass, then the gap's pass.
      if (prev >= 0) ops.axpy(prev, d, s, e);
      for (let k = 0; k < p; k++) partials[k * nb + b] = ops.dot(k, s, e);
      partials[p * nb + b] = ops.rr(s, e);
      partials[(p + 1) * nb + b] = ops.ry(s, e);
    }
  }
}

// ---- control block: one Int32Array + one Float64Array over SharedArrayBuffers --------------------

const GEN = 0; // bumped by the caller for each command
const DONE = 1; // workers that finished the current command
const OP = 2;
const COL = 3;
const PREV = 4;
const SPIN_AT = 5; // loads of a control word before sleeping, set for each fit by spinLoads
const READY = 6; // workers that have started (their first instruction counts itself)
/**
 * Loads before sleeping on a loaded machine. Kept tiny: measured on this shared 2-core machine (load
 * 12 on 2 cores), spinning 20,000 loads made a 200,000-row fit on 2 threads 1.3× slower than on one
 * thread and 300,000 loads 8× slower (the spinning thread takes the time slice the other one needs),
 * while sleeping at once made it 1.2–2× faster.
 */
const SPIN_LOADED = 64;
/**
 * Loads before sleeping when the machine has a core for every thread (tens of microseconds): with the
 * SIMD kernels a coordinate's pass on half of 200,000 rows takes ~35–75 µs, about what a futex
 * wake-up costs, so a thread that sleeps between passes doubles the barrier's cost.
 */
const SPIN_QUIET = 30_000;

/**
 * How long the threads of a `threads`-thread fit spin before sleeping: long when the 1-minute load
 * average leaves a core per thread, else tiny (see above). `MLOPS_FIT_SPIN` sets it (benchmarks).
 */
export function spinLoads(threads: number): number {
  const set = Number(process.env['MLOPS_FIT_SPIN']);
  if (process.env['MLOPS_FIT_SPIN'] !== undefined && Number.isInteger(set) && set >= 0) return set;
  return coreForEachThread(threads) ? SPIN_QUIET : SPIN_LOADED;
}

/** True when the 1-minute load average leaves a core for each of `threads` threads. */
export function coreForEachThread(threads: number): boolean {
  const cores = availableParallelism();
  return threads <= cores && loadavg()[0] <= cores * 1.5;
}

const WORKER_SOURCE = `
const { workerData: w, receiveMessageOnPort } = require('node:worker_threads');
var __name = (f) => f;
${blockDot.toString()}
${blockUpdateDot.toString()}
${blockAxpy.toString()}
${blockDotCentred.toString()}
const makeOps = ${makeOps.toString()};
const runBlocks = ${runBlocks.toString()};
const ctrl = new Int32Array(w.ctrl);
const delta = new Float64Array(w.delta);
Atomics.add(ctrl, ${READY}, 1);
let seen = 0;
let st = null;
for (;;) {
  let g = Atomics.load(ctrl, ${GEN});
  for (let k = 0, spin = ctrl[${SPIN_AT}]; g === seen && k < spin; k++) g = Atomics.load(ctrl, ${GEN});
  while (g === seen) {
    Atomics.wait(ctrl, ${GEN}, seen);
    g = Atomics.load(ctrl, ${GEN});
  }
  seen = g;
  const op = ctrl[${OP}];
  if (op === ${CMD.exit}) break;
  if (op === ${CMD.job}) {
    // Another task for this worker (reading a CSV file's second half); no barrier: it answers by message.
    if (ctrl[${COL}] !== w.index) continue;
    const m = receiveMessageOnPort(w.port).message;
    let out;
    try {
      out = { ok: (0, eval)('(' + m.job + ')')(m.data, require) };
    } catch (e) {
      out = { error: String((e && e.stack) || e) };
    }
    w.port.postMessage(out);
    continue;
  }
  if (op === ${CMD.attach}) {
    const m = receiveMessageOnPort(w.port).message;
    const kernels = m.memory ? new WebAssembly.Instance(m.module, { env: { memory: m.memory } }).exports : undefined;
    const b0 = Math.floor((w.index * m.nb) / m.threads);
    const b1 = Math.floor(((w.index + 1) * m.nb) / m.threads);
    st = { ops: makeOps(m, kernels), p: m.p, partials: new Float64Array(m.partials), n: m.n, nb: m.nb, block: m.block, b0, b1 };
  } else if (st) {
    runBlocks(op, st.ops, st.p, st.partials, st.n, st.nb, st.block, ctrl[${COL}], ctrl[${PREV}], delta[0], st.b0, st.b1);
  }
  Atomics.add(ctrl, ${DONE}, 1);
  Atomics.notify(ctrl, ${DONE});
}
`;

interface Pool {
  readonly workers: Worker[];
  readonly ports: MessagePort[];
  readonly ctrl: Int32Array;
  readonly delta: Float64Array;
}

/** Pools by size, kept between fits. */
const pools = new Map<number, Pool>();

function pool(size: number): Pool {
  let p = pools.get(size);
  if (p) return p;
  const ctrl = new Int32Array(new SharedArrayBuffer(8 * 4));
  const delta = new Float64Array(new SharedArrayBuffer(8));
  const workers: Worker[] = [];
  const ports: MessagePort[] = [];
  for (let index = 1; index <= size; index++) {
    const { port1, port2 } = new MessageChannel();
    const worker = startWorker(WORKER_SOURCE, {
      eval: true,
      // The fit allocates almost nothing (views on shared memory), a CSV job short strings only (the
      // 17-digit numbers): a small heap holds both, where the default grows to tens of MB for nothing.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 16 },
      workerData: { ctrl: ctrl.buffer, delta: delta.buffer, port: port2, index },
      transferList: [port2],
    });
    worker.unref();
    port1.unref();
    workers.push(worker);
    ports.push(port1);
  }
  p = { workers, ports, ctrl, delta };
  pools.set(size, p);
  return p;
}

/**
 * Whether the worker threads of a `threads`-thread fit have started (a fit that would otherwise wait
 * for their start-up, 30–60 ms, runs its first epochs on one thread meanwhile).
 */
export function fitThreadsReady(threads: number): boolean {
  const p = pools.get(threads - 1);
  return p !== undefined && Atomics.load(p.ctrl, READY) === threads - 1;
}

/**
 * Starts the worker threads of a `threads`-thread fit ahead of it, so that their start-up overlaps
 * with reading the data instead of delaying the fit. Harmless when the fit ends up single-threaded.
 *
 * @example
 * prewarmFitThreads(defaultFitThreads(estimatedRows));
 */
export function prewarmFitThreads(threads: number): void {
  if (threads > 1) pool(threads - 1);
}

/**
 * Runs a job on the first worker of the pool a `threads`-thread fit uses, so that reading the data
 * and fitting it share one worker isolate (~12 MB each) and one start-up. `job` is the source text
 * of a self-contained function `(data, require) => result`; `data` travels by structured clone
 * (SharedArrayBuffers shared). The job must not overlap a fit on the same pool.
 *
 * @example
 * const { rows } = await runOnFitWorker(2, PARSE_JOB, { path, start, end });
 */
export function runOnFitWorker<T>(threads: number, job: string, data: unknown): Promise<T> {
  if (threads < 2) return Promise.reject(new Error(`a worker job needs threads ≥ 2, but ${threads} was provided`));
  const { workers, ports, ctrl } = pool(threads - 1);
  const port = ports[0]!;
  const worker = workers[0]!;
  // The port and worker are unref'ed between fits; while a job runs they keep the process alive.
  port.ref();
  const done = new Promise<T>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    worker.once('error', onError);
    port.once('message', (m: { ok?: T; error?: string }) => {
      worker.off('error', onError);
      port.unref();
      if (m.error !== undefined) reject(new Error(m.error));
      else resolve(m.ok as T);
    });
  });
  port.postMessage({ job, data });
  ctrl[OP] = CMD.job;
  ctrl[COL] = 1;
  Atomics.add(ctrl, GEN, 1);
  Atomics.notify(ctrl, GEN);
  return done;
}

/** Ends the kept worker threads (tests; a process exits without this, the workers are unref'ed). */
export async function stopFitThreads(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  for (const p of all) {
    p.ctrl[OP] = CMD.exit;
    Atomics.add(p.ctrl, GEN, 1);
    Atomics.notify(p.ctrl, GEN);
    await Promise.all(p.workers.map((w) => w.terminate()));
  }
}

/** The matrix, residual and centred target a fit's passes read; shared when threads run them. */
export interface PassData {
  /** Column-major, centred: column j is `x[j·n, (j+1)·n)`. */
  readonly x: Float64Array;
  readonly r: Float64Array;
  /** The target, uncentred; the passes centre it on ȳ as they read it. */
  readonly y: Float64Array;
  readonly yMean: number;
}

/**
 * A fit's arrays, placed where its passes run fastest: in one WebAssembly kernel memory when SIMD is
 * available and `simd` is true (the memory is shared, so threads need nothing more), else in
 * SharedArrayBuffers when `shared`, else in plain arrays. `x` holds a copy of `data`, or `data`
 * itself when `inPlace` and it can be used where it is: always for the JavaScript kernels (as
 * before), for SIMD only when `data` already lives in a kernel memory ({@link fitMatrixArray}), whose
 * room past the matrix then holds the residual and the target ({@link kernelRoom}). A copy of the
 * target is made only where `y` cannot be read where it is. `simd` in the answer says which kernels
 * the passes will run, and `fallback` why not SIMD when `simd` was asked for; `copied` false says
 * that `x` is not `data` and `data` is not copied into it yet (the caller copies it column by column,
 * each just before its first pass, while it is in cache).
 */
export function fitArrays(
  data: Float64Array,
  y: Float64Array,
  n: number,
  options: { readonly inPlace: boolean; readonly shared: boolean; readonly simd: boolean },
): { x: Float64Array; r: Float64Array; y: Float64Array; simd: boolean; copied: boolean; fallback?: string } {
  const p = data.length / n;
  let fallback: string | undefined;
  if (!options.simd) {
    // asked for the JavaScript kernels: no fallback
  } else if (!kernelModule()) {
    fallback =
      kernelModule.unavailable() === 'off'
        ? 'MLOPS_FIT_SIMD=0 asks for the JavaScript kernels'
        : 'this runtime has no WebAssembly SIMD or shared WebAssembly memory';
  } else if (options.inPlace) {
    const own = kernelMemoryOf(data.buffer);
    const base = own && kernelRoom(own, 2 * n * 8);
    if (own && base !== undefined) {
      const buf = kernelBuffer(own);
      const yk = new Float64Array(buf, base + n * 8, n);
      yk.set(y);
      return { x: data, r: new Float64Array(buf, base, n), y: yk, simd: true, copied: true };
    }
    fallback = own
      ? `the matrix's kernel memory cannot grow by the residual and target (${2 * n * 8} bytes) below 4 GiB`
      : 'overwriteX on a matrix outside kernel memory (not from fitMatrixArray): centred and fitted where it is';
  } else {
    const memory = scratchMemory((p + 2) * n * 8);
    if (memory) {
      const buf = kernelBuffer(memory);
      const x = new Float64Array(buf, 0, p * n);
      const yk = new Float64Array(buf, (p + 1) * n * 8, n);
      yk.set(y);
      return { x, r: new Float64Array(buf, p * n * 8, n), y: yk, simd: true, copied: false };
    }
    fallback = `the matrix, residual and target (${(p + 2) * n * 8} bytes) do not fit in a WebAssembly memory (4 GiB)`;
  }
  const { shared } = options;
  const alloc = (length: number) =>
    shared ? new Float64Array(new SharedArrayBuffer(length * 8)) : new Float64Array(length);
  const inPlace = options.inPlace && (!shared || data.buffer instanceof SharedArrayBuffer);
  const x = inPlace ? data : alloc(data.length);
  let ys = y;
  if (shared && !(y.buffer instanceof SharedArrayBuffer)) {
    ys = alloc(n);
    ys.set(y);
  }
  return { x, r: alloc(n), y: ys, simd: false, copied: inPlace, ...(fallback === undefined ? {} : { fallback }) };
}

/** Column `[o, o + n)` of a matrix: its sum, whether every value is the same, the first non-finite one. */
export interface ColumnStats {
  readonly sum: number;
  readonly constant: boolean;
  /** Index in the column of the first value that is not finite, or −1. */
  readonly nonFinite: number;
}

/**
 * The passes that prepare a fit's matrix, column by column: the sum (four running sums, the i-th
 * value to sum i mod 4, as the other passes) and constancy, then the centring with the sum of squares
 * of the centred column. By the SIMD kernels when `x` lives in a kernel memory and `simd`, else by the
 * JavaScript code below; the same bits either way.
 */
export function columnPasses(
  x: Float64Array,
  simd: boolean,
): { stats(o: number, n: number): ColumnStats; centre(o: number, m: number, n: number): number } {
  const memory = simd ? kernelMemoryOf(x.buffer) : undefined;
  const kernels = memory && instantiateKernels(memory);
  const firstNonFinite = (o: number, n: number) => {
    for (let i = 0; i < n; i++) if (!Number.isFinite(x[o + i]!)) return i;
    return -1;
  };
  if (kernels) {
    const at = (o: number) => x.byteOffset + o * 8;
    return {
      stats: (o, n) => {
        const [sum, lo, hi] = kernels.stats(at(o), n);
        // A finite sum means finite values; otherwise look for the culprit (or it overflowed).
        return { sum, constant: lo === hi, nonFinite: Number.isFinite(sum) ? -1 : firstNonFinite(o, n) };
      },
      centre: (o, m, n) => kernels.centre(at(o), m, n),
    };
  }
  return {
    stats: (o, n) => {
      const sum = columnSum(x, o, n);
      return { sum, constant: isConstant(x, o, n), nonFinite: Number.isFinite(sum) ? -1 : firstNonFinite(o, n) };
    },
    centre: (o, m, n) => centreColumn(x, o, m, n),
  };
}

// Top-level functions with each value's operations together: measured, V8 ran the same loops 3–5×
// slower written inside closures or as four loads, then four stores, then four sums.

/** Σ x[i] over [o, o + n) with four running sums. */
function columnSum(x: Float64Array, o: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = o;
  const end = o + n;
  const end4 = end - (n % 4);
  for (; i < end4; i += 4) {
    s0 += x[i]!;
    s1 += x[i + 1]!;
    s2 += x[i + 2]!;
    s3 += x[i + 3]!;
  }
  for (; i < end; i++) s0 += x[i]!;
  return s0 + s1 + s2 + s3;
}

/** Whether x[i] is the same for every i in [o, o + n); stops at the first difference. */
function isConstant(x: Float64Array, o: number, n: number): boolean {
  const first = x[o]!;
  for (let i = o + 1, end = o + n; i < end; i++) if (x[i] !== first) return false;
  return true;
}

/** x[i] −= m over [o, o + n), and Σ x[i]² of the result with four running sums. */
function centreColumn(x: Float64Array, o: number, m: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = o;
  const end = o + n;
  const end4 = end - (n % 4);
  for (; i < end4; i += 4) {
    const v0 = x[i]! - m;
    x[i] = v0;
    s0 += v0 * v0;
    const v1 = x[i + 1]! - m;
    x[i + 1] = v1;
    s1 += v1 * v1;
    const v2 = x[i + 2]! - m;
    x[i + 2] = v2;
    s2 += v2 * v2;
    const v3 = x[i + 3]! - m;
    x[i + 3] = v3;
    s3 += v3 * v3;
  }
  for (; i < end; i++) {
    const v = x[i]! - m;
    x[i] = v;
    s0 += v * v;
  }
  return s0 + s1 + s2 + s3;
}

let scratch: KernelMemory | undefined;

/**
 * The kernel memory a fit copies its matrix into: the previous fit's when it is large enough. Fits
 * run one at a time (synchronously), so one suffices; reusing it saves the page faults of fresh
 * memory, about 14 ms of the 200,000 × 20 fit (35 MB), measured. The cost: the process keeps the
 * memory of its largest such fit (shared memory cannot shrink); a fit with `overwriteX` on a
 * {@link fitMatrixArray} matrix uses that matrix's memory instead.
 */
function scratchMemory(bytes: number): KernelMemory | undefined {
  if (scratch && scratch.buffer.byteLength >= bytes) return scratch;
  scratch = undefined; // let the smaller one go before the larger one is made
  scratch = kernelMemory(bytes);
  return scratch;
}

/**
 * An array of `length` doubles for a training matrix or target that a fit will centre in place
 * (`overwriteX`) and run its SIMD kernels on without a copy: a view on a WebAssembly kernel memory
 * (whose buffer is a SharedArrayBuffer) where SIMD is available, else a SharedArrayBuffer when
 * `shared`, else a plain array. Zero-filled; untouched pages cost address space, not memory.
 *
 * @example
 * const data = fitMatrixArray(rows * cols, true); // fill column by column, then fitElasticNet(..., { overwriteX: true })
 */
export function fitMatrixArray(length: number, shared: boolean): Float64Array {
  const memory = kernelMemory(length * 8);
  if (memory) return new Float64Array(kernelBuffer(memory), 0, length);
  return shared ? new Float64Array(new SharedArrayBuffer(length * 8)) : new Float64Array(length);
}

export interface BlockPasses {
  /** Whether the passes run the WebAssembly SIMD kernels (else their JavaScript twins: same bits). */
  readonly simd: boolean;
  /** The threads the passes run on (the caller's and the workers'). */
  readonly threads: number;
  /** x_j·R. */
  dot(j: number): number;
  /** R −= d·x_prev, then x_j·R. */
  updateDot(prev: number, d: number, j: number): number;
  /** R −= d·x_prev. */
  axpy(prev: number, d: number): void;
  /**
   * x_k·R for every column k, then R·R and R·(y − ȳ); with `prev` ≥ 0, after R −= d·x_prev in the
   * same pass (the bits of `axpy(prev, d)` then `gapDots()`).
   */
  gapDots(prev?: number, d?: number): Float64Array;
  /** Detaches the workers (the pool stays for the next fit). */
  release(): void;
}

/** The kernel memory holding every array of `data`, if one does. */
function commonKernelMemory(data: PassData): KernelMemory | undefined {
  const memory = kernelMemoryOf(data.x.buffer);
  if (!memory || kernelMemoryOf(data.r.buffer) !== memory || kernelMemoryOf(data.y.buffer) !== memory) {
    return undefined;
  }
  return memory;
}

/**
 * A fit's passes over `data` on `threads` threads (the caller's plus `threads − 1` workers). With
 * more than one thread every array of `data` must live in a SharedArrayBuffer. The passes run the
 * WebAssembly SIMD kernels when every array of `data` lives in one kernel memory (see
 * {@link fitArrays}), else the JavaScript ones; the bits are the same.
 *
 * @example
 * const pass = blockPasses({ x, r, y, yMean }, n, p, 2);
 * try { ... pass.updateDot(prev, d, j) ... } finally { pass.release(); }
 */
export function blockPasses(data: PassData, n: number, p: number, threads: number): BlockPasses {
  const nb = Math.max(1, Math.ceil(n / BLOCK_ROWS));
  const workersWanted = Math.min(threads, nb) - 1;
  const { r: R, y, yMean } = data;
  const memory = commonKernelMemory(data);
  const kernels = memory && instantiateKernels(memory);
  const where: OpsData = {
    x: data.x.buffer,
    xOffset: data.x.byteOffset,
    r: R.buffer,
    rOffset: R.byteOffset,
    y: y.buffer,
    yOffset: y.byteOffset,
    yMean,
    n,
    p,
  };
  const ops = makeOps(where, kernels);
  const simd = kernels !== undefined;
  const partials = new Float64Array(
    workersWanted > 0 ? new SharedArrayBuffer((p + 2) * nb * 8) : new ArrayBuffer((p + 2) * nb * 8),
  );
  const sum = (k: number) => {
    let s = 0;
    for (let b = k * nb, end = b + nb; b < end; b++) s += partials[b]!;
    return nb === 1 ? partials[k]! : s;
  };
  const gap = () => {
    const out = new Float64Array(p + 2);
    for (let k = 0; k < p + 2; k++) out[k] = sum(k);
    return out;
  };

  if (workersWanted <= 0) {
    const local = (op: number, j: number, prev: number, d: number) =>
      runBlocks(op, ops, p, partials, n, nb, BLOCK_ROWS, j, prev, d, 0, nb);
    return {
      simd,
      threads: 1,
      dot: (j) => (local(CMD.dot, j, 0, 0), sum(0)),
      updateDot: (prev, d, j) => (local(CMD.updateDot, j, prev, d), sum(0)),
      axpy: (prev, d) => local(CMD.axpy, 0, prev, d),
      gapDots: (prev = -1, d = 0) => (local(CMD.gap, 0, prev, d), gap()),
      release: () => {},
    };
  }

  for (const a of [data.x, R, y]) {
    if (!(a.buffer instanceof SharedArrayBuffer)) {
      throw new Error('a threaded fit needs its matrix, residual and target in SharedArrayBuffers');
    }
  }
  const workers = workersWanted;
  const { ctrl, delta, ports } = pool(workers);
  const total = workers + 1;
  const mine = Math.floor(nb / total); // the caller runs blocks [0, mine): thread index 0
  const spin = spinLoads(total);
  ctrl[SPIN_AT] = spin;

  const run = (op: number, j: number, prev: number, d: number) => {
    Atomics.store(ctrl, DONE, 0);
    ctrl[OP] = op;
    ctrl[COL] = j;
    ctrl[PREV] = prev;
    delta[0] = d;
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    if (op !== CMD.attach) runBlocks(op, ops, p, partials, n, nb, BLOCK_ROWS, j, prev, d, 0, mine);
    let done = Atomics.load(ctrl, DONE);
    for (let k = 0; done < workers && k < spin; k++) done = Atomics.load(ctrl, DONE);
    const started = Date.now();
    while (done < workers) {
      // A worker that died cannot say so while this thread blocks; a minute of silence is an error.
      if (Atomics.wait(ctrl, DONE, done, 1000) === 'timed-out' && Date.now() - started > 60_000) {
        throw new Error(`fit worker threads did not answer (${done} of ${workers} finished)`);
      }
      done = Atomics.load(ctrl, DONE);
    }
  };
  const message = {
    ...where,
    // The workers instantiate the same module over the same shared memory.
    memory: simd ? memory : undefined,
    module: simd ? kernelModule() : undefined,
    partials: partials.buffer,
    nb,
    block: BLOCK_ROWS,
    threads: total,
  };
  for (const port of ports) port.postMessage(message);
  run(CMD.attach, 0, 0, 0);
  return {
    simd,
    threads: total,
    dot: (j) => (run(CMD.dot, j, 0, 0), sum(0)),
    updateDot: (prev, d, j) => (run(CMD.updateDot, j, prev, d), sum(0)),
    axpy: (prev, d) => run(CMD.axpy, 0, prev, d),
    gapDots: (prev = -1, d = 0) => (run(CMD.gap, 0, prev, d), gap()),
    // Workers drop their views so the fit's buffers can be collected.
    release: () => {
      const none = new SharedArrayBuffer(8);
      for (const port of ports) {
        port.postMessage({ ...message, x: none, xOffset: 0, r: none, rOffset: 0, y: none, yOffset: 0, memory: undefined, module: undefined, partials: none, n: 0, p: 0, nb: 0 });
      }
      run(CMD.attach, 0, 0, 0);
    },
  };
}

/** Passes timed on each side in a row: the estimate of a side is the median of its latest ones. */
export const PROBE_PASSES = 5;
/**
 * Passes on the faster side between two probes of the other (two epochs of 20 columns); three times
 * as many when the faster took less than {@link CLEAR_WIN} of the other's time.
 */
export const PROBE_EVERY = 40;
/** A win by this much (a time ratio) is probed again only every 3 × PROBE_EVERY passes. */
export const CLEAR_WIN = 2 / 3;

/** A fit's passes on one thread or on several, chosen pass by pass (see {@link adaptivePasses}). */
export interface AdaptivePasses extends BlockPasses {
  /** Coordinate passes run so far, and of those the ones on more than one thread. */
  readonly counts: { readonly passes: number; readonly parallel: number };
}

/**
 * A fit's passes over `data`, each coordinate pass (`dot`, `updateDot`) run on one thread or on
 * `threads`, whichever its latest passes were faster on; `threads: 1`-style fixed
 * passes when `adaptive` is false. When the load average leaves a core for each thread (`probeOne`
 * false), every pass runs on `threads` once the workers have started, with no probes of one thread:
 * on a quiet machine the probes and the switches cost more than they found (three quiet benches at
 * 200,000 × 20: the probing default 47–64 ms against 39–44 ms with every pass on two threads).
 *
 * Why measure instead of a row threshold: whether a second thread pays at 100,000–1,000,000 rows
 * depends on what a threshold cannot see: how much of the memory bandwidth one core already takes
 * (an epoch streams the whole matrix; one thread was measured within 10% of the streaming floor),
 * whether another process holds the other core (a sleeping worker makes each coordinate's barrier a
 * futex wake-up), whether the worker threads have started. The result cannot differ: every thread
 * count gives the same bits (see the module comment), the choice changes only where the blocks are
 * computed. Policy: {@link PROBE_PASSES} passes on `threads` (once the workers have started; one
 * thread until then), as many on one, then the side whose latest PROBE_PASSES took less time, the
 * other probed again for PROBE_PASSES passes after every {@link PROBE_EVERY} (3× as many after a
 * clear win, {@link CLEAR_WIN}), so that a change of load is followed. The median, neither the
 * fastest nor the mean: on a loaded machine the time a thread waits for a core is part of what the
 * user waits for (and a process with two runnable threads gets two shares of the cores), but one
 * pass slowed by an interrupt must not send the next 40 to the slower side (with the mean, a quiet
 * machine's default fit fell to one thread for 37–204 of 340 passes in some fits and took 57–83 ms
 * against 41–51 ms on two). The first pass on the workers after passes on one thread is not a
 * sample: it pays their wake-up from `Atomics.wait`, which made every probe of two threads look
 * slower than two threads are. A pass takes 30–150 µs at
 * 200,000 rows, so a probe on the slower side costs a fraction of a millisecond. `dot` and
 * `updateDot` passes share one choice and one set of samples (timed apart, each kind could choose
 * its own side, and a fit alternating between them paid a wake-up on most passes); the duality
 * gap's pass and `axpy` run on the side in use.
 *
 * @example
 * const pass = adaptivePasses(data, n, p, 2, true);
 * const xr = pass.updateDot(prev, d, j); // on one thread or two
 */
export function adaptivePasses(
  data: PassData,
  n: number,
  p: number,
  threads: number,
  adaptive: boolean,
  clock: () => number = () => performance.now(),
  probeOne: boolean = !coreForEachThread(threads),
): AdaptivePasses {
  const nb = Math.ceil(n / BLOCK_ROWS);
  if (!adaptive || threads < 2 || nb < 2) {
    const fixed = blockPasses(data, n, p, adaptive ? 1 : threads);
    const counts = { passes: 0, parallel: 0 };
    const count = () => {
      counts.passes++;
      if (fixed.threads > 1) counts.parallel++;
    };
    return {
      ...fixed,
      counts,
      dot: (j) => (count(), fixed.dot(j)),
      updateDot: (prev, d, j) => (count(), fixed.updateDot(prev, d, j)),
    };
  }
  // Start the workers if they are not (the passes run on one thread until they have).
  prewarmFitThreads(threads);
  const one = blockPasses(data, n, p, 1);
  let many: BlockPasses | undefined;
  // latest pass times by side (0: one thread, 1: many); `dot` and `updateDot` passes together
  const times: number[][] = [[], []];
  const probe = { side: 0, left: 0, since: 0 };
  const counts = { passes: 0, parallel: 0 };
  let current: BlockPasses = one;
  /** The median of a side's latest times: one pass slowed by an interrupt does not flip the choice. */
  const median = (t: readonly number[]) => {
    const sorted = [...t].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  /** The side the previous pass ran on (-1 before the first). */
  let previous = -1;
  /** The side for the next pass. */
  const choose = (): number => {
    if (!many && fitThreadsReady(threads)) many = blockPasses(data, n, p, threads);
    if (!many) return 0;
    if (!probeOne) return 1;
    const [t0, t1] = times;
    const pr = probe;
    if (t1!.length < PROBE_PASSES) return 1;
    if (t0!.length < PROBE_PASSES) return 0;
    if (pr.left > 0) return pr.side;
    const [m0, m1] = [median(t0!), median(t1!)];
    const faster = m1 < m0 ? 1 : 0;
    const clear = Math.min(m0, m1) < CLEAR_WIN * Math.max(m0, m1);
    if (pr.since >= (clear ? 3 * PROBE_EVERY : PROBE_EVERY)) {
      pr.side = 1 - faster;
      pr.left = PROBE_PASSES;
      pr.since = 0;
      times[pr.side] = []; // fresh samples only
      return pr.side;
    }
    return faster;
  };
  const timed = <T>(f: (pass: BlockPasses) => T): T => {
    const side = choose();
    current = side === 1 ? many! : one;
    const started = clock();
    const out = f(current);
    const elapsed = clock() - started;
    // The first pass on the workers after passes on one thread pays their wake-up (they sleep in
    // Atomics.wait when idle): a cost of switching, not of the side, so it is not a sample.
    if (side === 0 || previous === 1) {
      const t = times[side]!;
      t.push(elapsed);
      if (t.length > PROBE_PASSES) t.shift();
    }
    previous = side;
    if (probe.left > 0 && side === probe.side) probe.left--;
    else probe.since++;
    counts.passes++;
    if (side === 1) counts.parallel++;
    return out;
  };
  return {
    simd: one.simd,
    get threads() {
      return current.threads;
    },
    counts,
    dot: (j) => timed((pass) => pass.dot(j)),
    updateDot: (prev, d, j) => timed((pass) => pass.updateDot(prev, d, j)),
    axpy: (prev, d) => current.axpy(prev, d),
    gapDots: (prev, d) => current.gapDots(prev, d),
    release: () => {
      one.release();
      many?.release();
    },
  };
}

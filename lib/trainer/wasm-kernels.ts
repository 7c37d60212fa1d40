/**
 * The fit's passes over the rows as a WebAssembly module with 128-bit SIMD (f64x2), hand-encoded
 * here with the encoder of `lib/shared/wasm.ts`: a few dozen instructions need no compiler, and the
 * bytes are built from this readable source when the module loads (about 1.5 KB, compiled once per
 * process).
 *
 * Each kernel computes exactly what its JavaScript twin in `fit-threads.ts` computes, to the same
 * bits: the twin keeps four running sums, the i-th product going to sum i mod 4, and adds them as
 * ((s0 + s1) + s2) + s3 with the leftover rows in s0; here two f64x2 accumulators hold (s0, s1) and
 * (s2, s3), and the lanes are added in the same order. WebAssembly's f64x2.mul and f64x2.add round
 * like JavaScript's `*` and `+` (IEEE 754 double, no fused multiply-add), so a fit gives the same
 * bits with or without SIMD, and the JavaScript twins are the fallback where WebAssembly SIMD is
 * unavailable. (More accumulators would change the bits; at 200,000 × 20 the pass over all columns
 * is about twice as slow per column as over two columns that stay in L2, so memory, not the adds'
 * latency, is what the 20-column fit waits on.)
 *
 * Arguments are byte addresses in the module's memory (imported: `env.memory`, shared, so worker
 * threads run the same kernels over the same rows) and a count of doubles. `dot` over two columns of
 * a block of rows is also what a Gram matrix (XᵀX) accumulation needs: put the matrix in
 * `fitMatrixArray` memory and call `instantiateKernels(kernelMemoryOf(x.buffer))`.
 *
 * @example
 * const kernels = instantiateKernels(memory); // undefined without WebAssembly SIMD
 * const xr = kernels?.dot(columnByte, residualByte, rows);
 */
import {
  type CompiledModule,
  compiledOnce,
  exportEntry,
  ExportKind,
  F64,
  funcBody,
  funcType,
  I32,
  moduleBytes,
  op as scalar,
  Section,
  uleb,
  utf8,
  V128,
  vec,
  wasm,
} from '../shared/wasm';

/** The kernels, over byte addresses in the memory they were instantiated with. */
export interface FitKernels {
  /** Σ a[i]·b[i] for i < n. */
  dot(a: number, b: number, n: number): number;
  /** R[i] −= d·xPrev[i], then Σ xNext[i]·R[i] with the updated R, for i < n. */
  updateDot(r: number, xPrev: number, d: number, xNext: number, n: number): number;
  /** R[i] −= d·x[i] for i < n. */
  axpy(r: number, x: number, d: number, n: number): void;
  /** Σ a[i]·(b[i] − m) for i < n. */
  dotCentred(a: number, b: number, m: number, n: number): number;
  /** [Σ a[i], min a[i], max a[i]] for i < n (n ≥ 1). */
  stats(a: number, n: number): [number, number, number];
  /** a[i] −= m, then Σ a[i]² with the updated a, for i < n. */
  centre(a: number, m: number, n: number): number;
}

/** A kernel memory: shared, so its buffer is a SharedArrayBuffer that worker threads can view. */
export interface KernelMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}

/** The scalar instructions of `lib/shared/wasm.ts` and the SIMD ones the kernels use. */
const op = {
  ...scalar,
  v128Load: (offset: number) => [0xfd, ...uleb(0x00), 3, ...uleb(offset)],
  v128Store: (offset: number) => [0xfd, ...uleb(0x0b), 3, ...uleb(offset)],
  f64x2Splat: [0xfd, ...uleb(0x14)],
  f64x2Lane: (lane: number) => [0xfd, ...uleb(0x21), lane],
  f64x2Add: [0xfd, ...uleb(0xf0)],
  f64x2Sub: [0xfd, ...uleb(0xf1)],
  f64x2Mul: [0xfd, ...uleb(0xf2)],
  f64x2Pmin: [0xfd, ...uleb(0xf6)],
  f64x2Pmax: [0xfd, ...uleb(0xf7)],
};

/** Two f64x2 accumulators: four doubles (32 bytes) of each array per step of the vector loop. */
const STEP = 32;

/** `ptr += bytes` for each local in `ptrs`. */
const advance = (ptrs: readonly number[], bytes: number) =>
  ptrs.flatMap((p) => [...op.get(p), ...op.i32(bytes), ...op.i32Add, ...op.set(p)]);

/**
 * One kernel step on two doubles (f64x2) or one (f64): each kernel writes its step once, for both, so
 * that the vector loop and the leftover rows do the same arithmetic.
 */
interface Lanes {
  load(ptr: number, offset: number): number[];
  store(offset: number): number[];
  readonly add: number[];
  readonly sub: number[];
  readonly mul: number[];
  readonly min: number[];
  readonly max: number[];
}

const VECTOR: Lanes = {
  load: (ptr, offset) => [...op.get(ptr), ...op.v128Load(offset)],
  store: (offset) => op.v128Store(offset),
  add: op.f64x2Add,
  sub: op.f64x2Sub,
  mul: op.f64x2Mul,
  min: op.f64x2Pmin,
  max: op.f64x2Pmax,
};

const SCALAR: Lanes = {
  load: (ptr, offset) => [...op.get(ptr), ...op.f64Load(offset)],
  store: (offset) => op.f64Store(offset),
  add: op.f64Add,
  sub: op.f64Sub,
  mul: op.f64Mul,
  min: op.f64Min,
  max: op.f64Max,
};

/**
 * A kernel's locals: its parameters first (`params`, in order), then the loop bounds (`end4`, `end`,
 * i32), the two accumulators and a temporary (`acc0`, `acc1`, `vt`: v128), a splatted f64 parameter
 * (`vk`, v128), then the running scalar sum and a temporary (`s`, `st`: f64).
 */
function locals<P extends string>(params: readonly P[]) {
  const at = (k: number) => params.length + k;
  const index = Object.fromEntries(params.map((name, i) => [name, i])) as Record<P, number>;
  return { ...index, end4: at(0), end: at(1), acc0: at(2), acc1: at(3), vt: at(4), vk: at(5), s: at(6), st: at(7) };
}
type Layout = ReturnType<typeof locals<never>>;

/** The extra locals `locals` numbers, by type: [count, type]. */
const LOCALS: readonly (readonly [number, number])[] = [
  [2, I32],
  [4, V128],
  [2, F64],
];

/**
 * A kernel body: `pre` (set-up), then `step` over 4 doubles a time (two f64x2 halves into acc0 and
 * acc1) while `base < end4`, then over 1 double while `base < end` (into s, which starts as acc0's
 * first lane), then `post`. `end4 = base + 8·(n − n mod 4)`, `end = base + 8·n`.
 */
function kernelBody(o: {
  l: Layout;
  base: number;
  n: number;
  ptrs: readonly number[];
  pre?: readonly number[];
  step: (lanes: Lanes, offset: number, acc: number, tmp: number, k: number) => number[];
  afterVector?: readonly number[];
  post: readonly number[];
  /** The f64 parameter the step uses (splatted for the vector loop), if any. */
  k?: number;
}): number[] {
  const { l } = o;
  const guardedLoop = (limit: number, body: readonly number[], step: number) => [
    ...op.block,
    ...op.get(o.base),
    ...op.get(limit),
    ...op.i32GeU,
    ...op.brIf(0),
    ...op.loop,
    ...body,
    ...advance(o.ptrs, step),
    ...op.get(o.base),
    ...op.get(limit),
    ...op.i32LtU,
    ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  const bound = (mask: number, local: number) => [
    ...op.get(o.base),
    ...op.get(o.n),
    ...op.i32(mask),
    ...op.i32And,
    ...op.i32(3),
    ...op.i32Shl,
    ...op.i32Add,
    ...op.set(local),
  ];
  const k = o.k ?? 0;
  return [
    ...(o.k === undefined ? [] : [...op.get(o.k), ...op.f64x2Splat, ...op.set(l.vk)]),
    ...(o.pre ?? []),
    ...bound(-4, l.end4),
    ...bound(-1, l.end),
    ...guardedLoop(l.end4, [...o.step(VECTOR, 0, l.acc0, l.vt, l.vk), ...o.step(VECTOR, 16, l.acc1, l.vt, l.vk)], STEP),
    ...op.get(l.acc0),
    ...op.f64x2Lane(0),
    ...op.set(l.s),
    ...(o.afterVector ?? []),
    ...guardedLoop(l.end, o.step(SCALAR, 0, l.s, l.st, k), 8),
    ...o.post,
  ];
}

/** ((s + acc0[1]) + acc1[0]) + acc1[1]: the twin's s0 + s1 + s2 + s3 with s0 = s. */
const sumLanes = (l: Layout) => [
  ...op.get(l.s),
  ...op.get(l.acc0),
  ...op.f64x2Lane(1),
  ...op.f64Add,
  ...op.get(l.acc1),
  ...op.f64x2Lane(0),
  ...op.f64Add,
  ...op.get(l.acc1),
  ...op.f64x2Lane(1),
  ...op.f64Add,
];

/** acc += value. */
const accumulate = (lanes: Lanes, acc: number, value: readonly number[]) => [
  ...op.get(acc),
  ...value,
  ...lanes.add,
  ...op.set(acc),
];

/** dot(a, b, n): Σ a·b. */
function dotBody(): number[] {
  const l = locals(['a', 'b', 'n']);
  return kernelBody({
    l,
    base: l.a,
    n: l.n,
    ptrs: [l.a, l.b],
    step: (L, off, acc) => accumulate(L, acc, [...L.load(l.a, off), ...L.load(l.b, off), ...L.mul]),
    post: sumLanes(l),
  });
}

/** dotCentred(a, b, m, n): Σ a·(b − m). */
function dotCentredBody(): number[] {
  const l = locals(['a', 'b', 'm', 'n']);
  return kernelBody({
    l,
    base: l.a,
    n: l.n,
    ptrs: [l.a, l.b],
    k: l.m,
    step: (L, off, acc, _, m) =>
      accumulate(L, acc, [...L.load(l.a, off), ...L.load(l.b, off), ...op.get(m), ...L.sub, ...L.mul]),
    post: sumLanes(l),
  });
}

/** r − d·x at `off`, with r's address below it on the stack (for the store that follows). */
const residualMinus = (L: Lanes, r: number, x: number, d: number, off: number) => [
  ...op.get(r),
  ...L.load(r, off),
  ...op.get(d),
  ...L.load(x, off),
  ...L.mul,
  ...L.sub,
];

/** updateDot(r, xp, d, xn, n): r −= d·xp, then Σ xn·r. */
function updateDotBody(): number[] {
  const l = locals(['r', 'xp', 'd', 'xn', 'n']);
  const [r, xp, xn] = [l.r, l.xp, l.xn];
  return kernelBody({
    l,
    base: r,
    n: l.n,
    ptrs: [r, xp, xn],
    k: l.d,
    step: (L, off, acc, tmp, d) => [
      ...residualMinus(L, r, xp, d, off),
      ...op.tee(tmp),
      ...L.store(off),
      ...accumulate(L, acc, [...L.load(xn, off), ...op.get(tmp), ...L.mul]),
    ],
    post: sumLanes(l),
  });
}

/** axpy(r, x, d, n): r −= d·x. */
function axpyBody(): number[] {
  const l = locals(['r', 'x', 'd', 'n']);
  const [r, x] = [l.r, l.x];
  return kernelBody({
    l,
    base: r,
    n: l.n,
    ptrs: [r, x],
    k: l.d,
    step: (L, off, _acc, _tmp, d) => [...residualMinus(L, r, x, d, off), ...L.store(off)],
    post: [],
  });
}

/** stats(a, n): [Σ a, min a, max a]; the minimum and maximum in locals after the shared layout. */
function statsBody(): number[] {
  const l = locals(['a', 'n']);
  const [lo, hi, sLo, sHi] = [l.st + 1, l.st + 2, l.st + 3, l.st + 4];
  const a = l.a;
  const fold = (target: number, value: number, f: readonly number[]) => [
    ...op.get(target),
    ...op.get(value),
    ...f,
    ...op.set(target),
  ];
  const reduce = (vec: number, scalar: number, f: readonly number[]) => [
    ...op.get(vec),
    ...op.f64x2Lane(0),
    ...op.get(vec),
    ...op.f64x2Lane(1),
    ...f,
    ...op.set(scalar),
  ];
  return kernelBody({
    l,
    base: a,
    n: l.n,
    ptrs: [a],
    // min and max start from the first value
    pre: [...op.get(a), ...op.f64Load(0), ...op.f64x2Splat, ...op.tee(lo), ...op.set(hi)],
    step: (L, off, acc, tmp) => {
      const scalar = L === SCALAR;
      return [
        ...L.load(a, off),
        ...op.set(tmp),
        ...accumulate(L, acc, op.get(tmp)),
        ...fold(scalar ? sLo : lo, tmp, L.min),
        ...fold(scalar ? sHi : hi, tmp, L.max),
      ];
    },
    afterVector: [...reduce(lo, sLo, op.f64Min), ...reduce(hi, sHi, op.f64Max)],
    post: [...sumLanes(l), ...op.get(sLo), ...op.get(sHi)],
  });
}

/** centre(a, m, n): a −= m, then Σ a². */
function centreBody(): number[] {
  const l = locals(['a', 'm', 'n']);
  const a = l.a;
  return kernelBody({
    l,
    base: a,
    n: l.n,
    ptrs: [a],
    k: l.m,
    step: (L, off, acc, tmp, m) => [
      ...op.get(a),
      ...L.load(a, off),
      ...op.get(m),
      ...L.sub,
      ...op.tee(tmp),
      ...L.store(off),
      ...accumulate(L, acc, [...op.get(tmp), ...op.get(tmp), ...L.mul]),
    ],
    post: sumLanes(l),
  });
}

interface KernelDef {
  readonly name: keyof FitKernels;
  readonly params: readonly number[];
  readonly results: readonly number[];
  /** Extra locals after the parameters, in runs of one type: [count, type]. */
  readonly locals: readonly (readonly [number, number])[];
  readonly body: number[];
}

const KERNELS: readonly KernelDef[] = [
  { name: 'dot', params: [I32, I32, I32], results: [F64], locals: LOCALS, body: dotBody() },
  { name: 'updateDot', params: [I32, I32, F64, I32, I32], results: [F64], locals: LOCALS, body: updateDotBody() },
  { name: 'axpy', params: [I32, I32, F64, I32], results: [], locals: LOCALS, body: axpyBody() },
  { name: 'dotCentred', params: [I32, I32, F64, I32], results: [F64], locals: LOCALS, body: dotCentredBody() },
  // two more v128 (lo, hi) and f64 (their scalar reductions) after the shared layout
  { name: 'stats', params: [I32, I32], results: [F64, F64, F64], locals: [...LOCALS, [2, V128], [2, F64]], body: statsBody() },
  { name: 'centre', params: [I32, F64, I32], results: [F64], locals: LOCALS, body: centreBody() },
];

/** The largest memory the module accepts, in 64 KiB pages: 4 GiB, wasm32's whole address space. */
export const MAX_PAGES = 65_536;

/** The module's binary: one shared memory imported as `env.memory`, the four kernels exported. */
export function kernelModuleBytes(): Uint8Array {
  // memory limits: flags 3 = has a maximum and is shared; minimum 1 page
  const memory = [...utf8('env'), ...utf8('memory'), ExportKind.MEMORY, 0x03, ...uleb(1), ...uleb(MAX_PAGES)];
  return moduleBytes([
    [Section.TYPE, vec(KERNELS.map((k) => funcType(k.params, k.results)))],
    [Section.IMPORT, vec([memory])],
    [Section.FUNCTION, vec(KERNELS.map((_, i) => uleb(i)))],
    [Section.EXPORT, vec(KERNELS.map((k, i) => exportEntry(k.name, ExportKind.FUNC, i)))],
    [Section.CODE, vec(KERNELS.map((k) => funcBody(k.locals, k.body)))],
  ]);
}

/**
 * The compiled module, or undefined where WebAssembly SIMD or shared memory is unavailable (or
 * `MLOPS_FIT_SIMD=0` asks for the JavaScript kernels).
 */
export const kernelModule: CompiledModule = compiledOnce(kernelModuleBytes, 'MLOPS_FIT_SIMD');

/** Kernel memories by their buffers (a memory has had one buffer object per size, and more: below). */
const memories = new WeakMap<ArrayBufferLike, KernelMemory>();

/**
 * `memory.buffer`, registered so that {@link kernelMemoryOf} finds `memory` from views on it: read a
 * kernel memory's buffer only through this. Why: V8 (Node 20) gives every shared WebAssembly memory of
 * the isolate a new buffer object whenever any one of them grows, so the buffer registered when a
 * memory was made is not the one a later `memory.buffer` returns after another memory grew; a fit that
 * made its views on that unregistered buffer ran the JavaScript kernels, silently, for the rest of the
 * process. Views made earlier keep their buffer, which stays registered.
 */
export function kernelBuffer(memory: KernelMemory): SharedArrayBuffer {
  const buffer = memory.buffer;
  memories.set(buffer, memory);
  return buffer;
}

/**
 * A shared memory of at least `bytes` bytes for the kernels (its maximum is 4 GiB, so it can grow
 * while views on it stay valid), or undefined without the module or beyond wasm32's address space.
 */
export function kernelMemory(bytes: number): KernelMemory | undefined {
  if (!kernelModule()) return undefined;
  const pages = Math.max(1, Math.ceil(bytes / 65_536));
  // An array must end below 4 GiB: the kernels' end addresses are 32-bit.
  if (pages >= MAX_PAGES) return undefined;
  const memory = new wasm!.Memory({ initial: pages, maximum: MAX_PAGES, shared: true }) as KernelMemory;
  kernelBuffer(memory);
  return memory;
}

/** The kernel memory whose buffer `buffer` is, if it is one. */
export function kernelMemoryOf(buffer: ArrayBufferLike): KernelMemory | undefined {
  return memories.get(buffer);
}

/** Where each memory's fit room starts (see {@link kernelRoom}). */
const rooms = new WeakMap<KernelMemory, number>();

/**
 * The byte address of at least `bytes` bytes past the data `memory` was made for, for a fit's
 * residual and target, or undefined if the memory would reach 4 GiB. The room of the previous fit on
 * this memory is used again (grown if it is too small): fits on one thread run one at a time, and a
 * fit's room is dead when it returns. Growing the memory on every fit instead (as before) grows it
 * without bound over repeated fits on one matrix, up to 4 GiB, after which every fit on it would run
 * the JavaScript kernels. Views on the memory stay valid (it is shared).
 */
export function kernelRoom(memory: KernelMemory, bytes: number): number | undefined {
  const size = memory.buffer.byteLength;
  const base = rooms.get(memory) ?? size;
  const short = base + bytes - size;
  if (short > 0) {
    const pages = Math.ceil(short / 65_536);
    if (size / 65_536 + pages >= MAX_PAGES) return undefined;
    memory.grow(pages);
  }
  rooms.set(memory, base);
  kernelBuffer(memory);
  return base;
}

const instances = new WeakMap<KernelMemory, FitKernels>();

/** The kernels over `memory`, or undefined without WebAssembly SIMD. */
export function instantiateKernels(memory: KernelMemory): FitKernels | undefined {
  let kernels = instances.get(memory);
  if (!kernels) {
    kernels = kernelModule.instantiate<FitKernels>({ env: { memory } });
    if (!kernels) return undefined;
    instances.set(memory, kernels);
  }
  return kernels;
}

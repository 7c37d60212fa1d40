/**
 * A tiny WebAssembly binary encoder, for the kit's hand-encoded modules (the trainer's SIMD kernels
 * in `lib/trainer/wasm-kernels.ts`, the model server's number scan in `lib/serving/wasm-scan.ts`):
 * a few dozen instructions need no compiler, and each module's bytes are built from its readable
 * source when it loads. Names follow the WebAssembly text format.
 *
 * @example
 * const add = funcBody([], [...op.get(0), ...op.get(1), ...op.i32Add]);
 * const bytes = moduleBytes([
 *   [Section.TYPE, vec([funcType([I32, I32], [I32])])],
 *   [Section.FUNCTION, vec([uleb(0)])],
 *   [Section.EXPORT, vec([exportEntry('add', ExportKind.FUNC, 0)])],
 *   [Section.CODE, vec([add])],
 * ]);
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer (`i32.const` and block offsets). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Signed LEB128 of a 64-bit integer (`i64.const`): a bigint, since a number's `>>` is 32-bit. */
export function sleb64(n: bigint): number[] {
  const out: number[] = [];
  n = BigInt.asIntN(64, n);
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const utf8 = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
export const vec = (items: readonly (readonly number[])[]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: readonly number[]) => [id, ...uleb(body.length), ...body];

/** Value types. */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** Section ids, in the order a module must hold them. */
export const enum Section {
  TYPE = 1,
  IMPORT = 2,
  FUNCTION = 3,
  MEMORY = 5,
  EXPORT = 7,
  CODE = 10,
  DATA = 11,
}

/** What an import or export names. */
export const enum ExportKind {
  FUNC = 0x00,
  MEMORY = 0x02,
}

/** A function type: `(params) -> (results)`. */
export const funcType = (params: readonly number[], results: readonly number[]) => [
  0x60,
  ...vec(params.map((t) => [t])),
  ...vec(results.map((t) => [t])),
];

/** An export entry. */
export const exportEntry = (name: string, kind: ExportKind, index: number) => [...utf8(name), kind, ...uleb(index)];

/** A code section entry: the extra locals in runs of one type ([count, type]), then the body and its `end`. */
export function funcBody(locals: readonly (readonly [number, number])[], body: readonly number[]): number[] {
  const code = [...vec(locals.map(([count, type]) => [...uleb(count), type])), ...body, ...op.end];
  return [...uleb(code.length), ...code];
}

/** The module: the header, then each section (id, body) in the order given. */
export function moduleBytes(sections: readonly (readonly [Section, readonly number[]])[]): Uint8Array {
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...sections.flatMap(([id, body]) => section(id, body)),
  ]);
}

/** A memarg: the alignment hint (log2 of the bytes the access assumes aligned) and a constant offset. */
const memarg = (align: number, offset: number) => [align, ...uleb(offset)];

/** The scalar instructions used, as byte sequences. */
export const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  i64: (v: bigint) => [0x42, ...sleb64(v)],
  i32Eqz: [0x45],
  i32Eq: [0x46],
  i32Ne: [0x47],
  i32LtU: [0x49],
  i32GtU: [0x4b],
  i32GeU: [0x4f],
  i64Ne: [0x52],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32And: [0x71],
  i32Or: [0x72],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  i64Add: [0x7c],
  i64Mul: [0x7e],
  i64ExtendI32U: [0xad],
  f64ConvertI64S: [0xb9],
  select: [0x1b],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  else: [0x05],
  end: [0x0b],
  br: (depth: number) => [0x0c, depth],
  brIf: (depth: number) => [0x0d, depth],
  return: [0x0f],
  call: (f: number) => [0x10, ...uleb(f)],
  // Loads and stores of doubles assume 8-byte alignment; the byte-string ones assume none.
  f64Load: (offset: number) => [0x2b, ...memarg(3, offset)],
  f64Store: (offset: number) => [0x39, ...memarg(3, offset)],
  i32Load: (offset: number) => [0x28, ...memarg(0, offset)],
  i64Load: (offset: number) => [0x29, ...memarg(0, offset)],
  i32Load8U: (offset: number) => [0x2d, ...memarg(0, offset)],
  i32Load16U: (offset: number) => [0x2f, ...memarg(0, offset)],
  i32Store8: (offset: number) => [0x3a, ...memarg(0, offset)],
  i32Store16: (offset: number) => [0x3b, ...memarg(0, offset)],
  f64Add: [0xa0],
  f64Sub: [0xa1],
  f64Mul: [0xa2],
  f64Div: [0xa3],
  f64Min: [0xa4],
  f64Max: [0xa5],
  f64Neg: [0x9a],
};

/** A compiled module (opaque; it can be posted to a worker thread). */
export type WasmModule = object;

/** A memory, shared or not. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** The slice of the WebAssembly JavaScript API the kit uses (the project's `lib` has no DOM types). */
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

/** WebAssembly, or undefined where the runtime has none. */
export const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** A module compiled on first use: call it for the module; {@link CompiledModule.unavailable} says why there is none. */
export interface CompiledModule {
  (): WasmModule | undefined;
  /**
   * Why the call returns no module: `'off'` when its environment switch is `0`, `'unsupported'`
   * where the runtime has no WebAssembly or cannot compile the module; undefined when it has one.
   */
  unavailable(): 'off' | 'unsupported' | undefined;
  /** A new instance's exports (each instance has its own memory unless `imports` gives one), or undefined without the module. */
  instantiate<T>(imports?: object): T | undefined;
}

/**
 * The module of `bytes()`, compiled on the first call and kept for the process: undefined where
 * WebAssembly (or a feature the module uses, such as SIMD or shared memory) is unavailable, or
 * where the environment variable `off` is `0` (the JavaScript twins' switch). The switch is read
 * here only, so a caller that words the fallback asks {@link CompiledModule.unavailable}.
 *
 * @example
 * export const kernelModule = compiledOnce(kernelModuleBytes, 'MLOPS_FIT_SIMD');
 */
export function compiledOnce(bytes: () => Uint8Array, off: string): CompiledModule {
  let compiled: WasmModule | null | undefined;
  let why: 'off' | 'unsupported' | undefined;
  const module = (): WasmModule | undefined => {
    if (compiled === undefined) {
      compiled = null;
      why = 'unsupported';
      if (process.env[off] === '0') why = 'off';
      else if (wasm) {
        const code = bytes();
        try {
          if (wasm.validate(code)) {
            compiled = new wasm.Module(code);
            why = undefined;
          }
        } catch {
          // a feature the module uses is missing here: the JavaScript twin runs instead
        }
      }
    }
    return compiled ?? undefined;
  };
  return Object.assign(module, {
    unavailable: () => {
      module();
      return why;
    },
    instantiate: <T>(imports: object = {}): T | undefined => {
      const compiled = module();
      return compiled === undefined ? undefined : (new wasm!.Instance(compiled, imports).exports as T);
    },
  });
}

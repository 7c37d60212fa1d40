/**
 * The compact request bodies' scan (see `FastDecoder.compactSeldon` and `compactOip` in
 * `fast-path.ts`) as a WebAssembly function, hand-encoded with `lib/shared/wasm.ts`. In JavaScript,
 * every byte read from a typed array costs V8 a map check, a reload of the array's storage and a
 * bounds check; here a byte is one load, and the head and tail compare eight bytes at a time.
 *
 * The body is copied into the module's memory (one `Uint8Array.set`), the scan writes the doubles
 * into the same memory and returns the row count, and the decoder hands out a view on them. The
 * scan only answers "this is a compact body, here are its values" or "I do not know" (0): on
 * anything but short decimals in the exact form `JSON.stringify` writes, it stops, and the
 * JavaScript scan reads the body as it did before there was this one.
 *
 * A number is taken when it is `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 15 digits in all:
 * its digits as an integer are below 10^15 (exact in an i64 and in a double), converted exactly,
 * divided once by an exact power of ten, then negated for a minus sign: the one correctly
 * rounded operation `compactRun` makes, to the same bits (WebAssembly's f64 arithmetic is IEEE 754
 * double, as JavaScript's is).
 *
 * The memory is fixed (minimum = maximum, no `memory.grow` in the code), so views on it stay valid.
 * Layout: the doubles from 0, the powers of ten, the OIP head the decoder last took, then the body
 * and a zero byte after it, where every digit loop and comparison stops: the bytes an earlier,
 * longer body left after it are never read as this one's (and a body is taken only if its tail
 * ends at its last byte). A body of n bytes holds fewer than n/2 values (each is a digit and a
 * separator at least), so {@link BODY_MAX} bytes of body need no more than 4·BODY_MAX bytes of
 * doubles, and no scan checks for room.
 *
 * Measured (callgrind, a decoder's `seldon`/`oip` on the bench's one-row wine bodies in a loop,
 * TurboFan code): 2,634 → 1,273 instructions a Seldon body and 3,674 → 1,340 an OIP body; of
 * what is left, ~760 are the eleven numbers and ~170 the copy into the memory. A server runs
 * Liftoff's code (about 3× the scan's instructions) for its first ~1,000–6,000 requests, until V8
 * tiers the functions up.
 *
 * @example
 * const scan = compactScan(); // undefined without WebAssembly, or with MLOPS_SERVE_WASM=0
 * const rows = scan?.seldon(body, features) ?? 0; // 0: not one the scan takes
 * const x = scan!.view(rows * features);
 */
import {
  compiledOnce,
  exportEntry,
  ExportKind,
  F64,
  funcBody,
  funcType,
  I32,
  I64,
  moduleBytes,
  op,
  Section,
  uleb,
  vec,
} from '../shared/wasm';
import { Byte, OIP_TAIL_TEXT, SELDON_HEAD_TEXT, SELDON_TAIL_TEXT } from './json-bytes';

/** The longest body the scan reads; a longer one goes to the JavaScript scan. */
export const BODY_MAX = 16_384;
/** The longest OIP head (the text before the values) the scan compares. */
export const HEAD_MAX = 256;

const enum Layout {
  OUT = 0,
  POW10 = 4 * BODY_MAX,
  HEAD = POW10 + 16 * 8,
  BODY = HEAD + HEAD_MAX,
  /** The body, its zero byte and the 8-byte loads that may end past it. */
  END = BODY + BODY_MAX + 16,
  PAGES = (END + 65_535) >> 16,
}

/** The little-endian integer of up to 8 bytes of `s` from `at`, as an i32 or i64 load reads them. */
function le(s: string, at: number, width: number): bigint {
  let v = 0n;
  for (let k = width - 1; k >= 0; k--) v = (v << 8n) | BigInt(s.charCodeAt(at + k));
  return v;
}

/**
 * Code that branches to `fail` (a block depth) unless memory from `address` holds `s` (8 bytes or
 * more): 8-byte compares, the last one overlapping the one before.
 */
function holds(s: string, address: number, fail: number): number[] {
  const code: number[] = [];
  for (let at = 0; ; at = Math.min(at + 8, s.length - 8)) {
    code.push(...op.i32(0), ...op.i64Load(address + at), ...op.i64(le(s, at, 8)), ...op.i64Ne, ...op.brIf(fail));
    if (at === s.length - 8) return code;
  }
}

/** `i32.eq`, for the tails: `i32.load` at `address` (a local) minus one equals `s`'s 4 bytes. */
const tailIs = (address: number, s: string) => [
  ...op.get(address),
  ...op.i32(1),
  ...op.i32Sub,
  ...op.i32Load(0),
  ...op.i32(Number(BigInt.asIntN(32, le(s, 0, 4)))),
  ...op.i32Eq,
];

/**
 * Digits at `i` into `m` (m·10 + digit each), `i` advanced past them, `d` left holding the byte
 * after them minus '0'.
 */
function digits(i: number, d: number, m: number): number[] {
  return [
    ...op.block,
    ...op.loop,
    ...[...op.get(i), ...op.i32Load8U(0), ...op.i32(Byte.ZERO), ...op.i32Sub, ...op.tee(d)],
    ...[...op.i32(10), ...op.i32GeU, ...op.brIf(1)],
    ...[...op.get(m), ...op.i64(10n), ...op.i64Mul, ...op.get(d), ...op.i64ExtendI32U, ...op.i64Add, ...op.set(m)],
    ...[...op.get(i), ...op.i32(1), ...op.i32Add, ...op.set(i)],
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/**
 * run(i, o, end) → i: the numbers of `v,v,…,v]` at byte address `i` written as doubles from `o`
 * until `end` (so (end − o)/8 ≥ 1 of them), the address after the `]` returned; 0 for anything but
 * short decimals with those separators.
 */
function runBody(): { locals: [number, number][]; body: number[] } {
  const [i, o, end] = [0, 1, 2];
  // d: a byte minus '0'; s, e: the integer digits' bounds; t: the fraction's start (e without one).
  const [d, neg, s, e, t, m, v] = [3, 4, 5, 6, 7, 8, 9];
  // Depths of the outer block (the bail-out) and the loop over the values, from the loop's body.
  const BAIL = 1;
  const NEXT = 0;
  const scale = [...op.get(i), ...op.get(t), ...op.i32Sub];
  const next = [...op.get(i), ...op.i32Load8U(0), ...op.i32(Byte.ZERO), ...op.i32Sub, ...op.set(d)];
  return {
    locals: [
      [5, I32],
      [1, I64],
      [1, F64],
    ],
    body: [
      ...op.block,
      ...op.loop,
      // A minus sign: neg = 1, i past it.
      ...[...op.get(i), ...op.i32Load8U(0), ...op.i32(Byte.MINUS), ...op.i32Eq, ...op.tee(neg)],
      ...[...op.get(i), ...op.i32Add, ...op.tee(i), ...op.set(s)],
      // A digit first; after a 0 no other (JSON has no leading zeros): the byte after it is then
      // checked as the separator, and a digit there fails that check.
      ...[...next, ...op.get(d), ...op.i32(9), ...op.i32GtU, ...op.brIf(BAIL)],
      ...[...op.get(d), ...op.i64ExtendI32U, ...op.set(m), ...op.get(i), ...op.i32(1), ...op.i32Add, ...op.set(i)],
      ...[...op.get(d), ...op.if, ...digits(i, d, m), ...op.else, ...next, ...op.end],
      ...[...op.get(i), ...op.tee(e), ...op.set(t)],
      // A fraction: a dot and at least one digit.
      ...[...op.get(d), ...op.i32(Byte.DOT - Byte.ZERO), ...op.i32Eq, ...op.if],
      ...[...op.get(i), ...op.i32(1), ...op.i32Add, ...op.tee(i), ...op.set(t)],
      ...digits(i, d, m),
      ...[...op.get(i), ...op.get(t), ...op.i32Eq, ...op.brIf(BAIL + 1)],
      ...op.end,
      // At most 15 digits in all: below 10^15, exact in the i64 and in a double.
      ...[...op.get(e), ...op.get(s), ...op.i32Sub, ...scale, ...op.i32Add, ...op.i32(15), ...op.i32GtU, ...op.brIf(BAIL)],
      // x[o] = ±(m / 10^scale): one correctly rounded division, the sign after it.
      ...op.get(o),
      ...[...op.get(m), ...op.f64ConvertI64S, ...scale, ...op.i32(3), ...op.i32Shl, ...op.f64Load(Layout.POW10), ...op.f64Div],
      ...[...op.tee(v), ...op.f64Neg, ...op.get(v), ...op.get(neg), ...op.select],
      ...op.f64Store(0),
      ...[...op.get(o), ...op.i32(8), ...op.i32Add, ...op.set(o), ...op.get(i), ...op.i32(1), ...op.i32Add, ...op.set(i)],
      // Then `,` and the next value, or `]` after the last.
      ...[...op.get(d), ...op.i32(Byte.COMMA - Byte.ZERO), ...op.i32Eq, ...op.if],
      ...[...op.get(o), ...op.get(end), ...op.i32Ne, ...op.brIf(NEXT + 1), ...op.br(BAIL + 1)],
      ...op.end,
      ...[...op.get(d), ...op.i32(Byte.RBRACKET - Byte.ZERO), ...op.i32Ne, ...op.get(o), ...op.get(end), ...op.i32Ne, ...op.i32Or],
      ...[...op.brIf(BAIL), ...op.get(i), ...op.return],
      ...op.end,
      ...op.end,
      ...op.i32(0),
    ],
  };
}

const RUN = 0;

/** seldon(n, f) → rows: the `n`-byte body as `{"data":{"ndarray":[[…],…]}}` of rows of `f`; 0 if not. */
function seldonBody(): { locals: [number, number][]; body: number[] } {
  const [n, f] = [0, 1];
  const [i, o, rows, row] = [2, 3, 4, 5];
  return {
    locals: [[4, I32]],
    body: [
      ...[...op.get(n), ...op.i32(0), ...op.i32Store8(Layout.BODY)],
      ...op.block,
      ...holds(SELDON_HEAD_TEXT, Layout.BODY, 0),
      ...[...op.i32(Layout.BODY + SELDON_HEAD_TEXT.length), ...op.set(i)],
      ...[...op.i32(Layout.OUT), ...op.set(o), ...op.get(f), ...op.i32(3), ...op.i32Shl, ...op.set(row)],
      ...op.loop,
      ...[...op.get(i), ...op.get(o), ...op.get(o), ...op.get(row), ...op.i32Add, ...op.tee(o), ...op.call(RUN)],
      ...[...op.tee(i), ...op.i32Eqz, ...op.brIf(1)],
      ...[...op.get(rows), ...op.i32(1), ...op.i32Add, ...op.set(rows)],
      // `,[` and the next row.
      ...[...op.get(i), ...op.i32Load16U(0), ...op.i32(Byte.COMMA | (Byte.LBRACKET << 8)), ...op.i32Eq, ...op.if],
      ...[...op.get(i), ...op.i32(2), ...op.i32Add, ...op.set(i), ...op.br(1)],
      ...op.end,
      ...op.end,
      // Or the tail, ending the body: the row's `]` then `]}}`.
      ...[...op.get(i), ...op.i32(SELDON_TAIL_TEXT.length - 1), ...op.i32Add, ...op.i32(Layout.BODY), ...op.i32Sub, ...op.get(n), ...op.i32Eq],
      ...[...tailIs(i, SELDON_TAIL_TEXT), ...op.i32And, ...op.i32Eqz, ...op.brIf(0)],
      ...[...op.get(rows), ...op.return],
      ...op.end,
      ...op.i32(0),
    ],
  };
}

/**
 * oip(n, h, count) → 1 or 0: whether the `n`-byte body starts with the `h` bytes at {@link Layout.HEAD}
 * (the head of the last compact OIP body the decoder took, 8 bytes or more), then holds `count` ≥ 1
 * values and the tail, ending the body.
 */
function oipBody(): { locals: [number, number][]; body: number[] } {
  const [n, h, count] = [0, 1, 2];
  const [j, i] = [3, 4];
  const compare = [...op.get(j), ...op.i64Load(Layout.BODY), ...op.get(j), ...op.i64Load(Layout.HEAD), ...op.i64Ne];
  return {
    locals: [[2, I32]],
    body: [
      ...[...op.get(n), ...op.i32(0), ...op.i32Store8(Layout.BODY)],
      ...op.block,
      // The head 8 bytes a turn while a whole 8 remain past them, then its last 8.
      ...op.loop,
      ...[...compare, ...op.brIf(1)],
      ...[...op.get(j), ...op.i32(8), ...op.i32Add, ...op.tee(j), ...op.i32(8), ...op.i32Add, ...op.get(h), ...op.i32LtU, ...op.brIf(0)],
      ...op.end,
      ...[...op.get(h), ...op.i32(8), ...op.i32Sub, ...op.set(j), ...compare, ...op.brIf(0)],
      ...[...op.get(h), ...op.i32(Layout.BODY), ...op.i32Add],
      ...[...op.i32(Layout.OUT), ...op.get(count), ...op.i32(3), ...op.i32Shl, ...op.i32(Layout.OUT), ...op.i32Add, ...op.call(RUN)],
      ...[...op.tee(i), ...op.i32Eqz, ...op.brIf(0)],
      ...[...op.get(i), ...op.i32(OIP_TAIL_TEXT.length - 1), ...op.i32Add, ...op.i32(Layout.BODY), ...op.i32Sub, ...op.get(n), ...op.i32Eq],
      ...[...tailIs(i, OIP_TAIL_TEXT), ...op.i32And, ...op.return],
      ...op.end,
      ...op.i32(0),
    ],
  };
}

/** The module: its memory (exported), the powers of ten as data, `seldon` and `oip` exported. */
export function scanModuleBytes(): Uint8Array {
  const pow10 = new Uint8Array(Float64Array.from({ length: 16 }, (_, k) => Number(`1e${k}`)).buffer);
  const functions = [
    { type: 0, ...runBody() },
    { type: 1, ...seldonBody() },
    { type: 0, ...oipBody() },
  ];
  return moduleBytes([
    [Section.TYPE, vec([funcType([I32, I32, I32], [I32]), funcType([I32, I32], [I32])])],
    [Section.FUNCTION, vec(functions.map((fn) => uleb(fn.type)))],
    // flags 1: a maximum, the same as the minimum
    [Section.MEMORY, vec([[0x01, ...uleb(Layout.PAGES), ...uleb(Layout.PAGES)]])],
    [
      Section.EXPORT,
      vec([exportEntry('memory', ExportKind.MEMORY, 0), exportEntry('seldon', ExportKind.FUNC, 1), exportEntry('oip', ExportKind.FUNC, 2)]),
    ],
    [Section.CODE, vec(functions.map((fn) => funcBody(fn.locals, fn.body)))],
    // active segment of memory 0 at an i32.const offset
    [Section.DATA, vec([[0x00, ...op.i32(Layout.POW10), ...op.end, ...vec([...pow10].map((b) => [b]))]])],
  ]);
}

interface ScanExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  seldon(n: number, f: number): number;
  oip(n: number, h: number, count: number): number;
}

/** One scan instance and its memory, for one decoder (a decoder's values live in it until its next body). */
export class CompactScan {
  /** Where the OIP head {@link oip} compares with is kept: the decoder writes it. */
  readonly head: Uint8Array;
  private readonly memory: ArrayBuffer;
  private readonly body: Uint8Array;
  private readonly seldonScan: ScanExports['seldon'];
  private readonly oipScan: ScanExports['oip'];
  /** The last view handed out: bodies of one shape ask for the same length every time. */
  private last: Float64Array | undefined;

  constructor(exports: ScanExports) {
    this.memory = exports.memory.buffer;
    this.body = new Uint8Array(this.memory, Layout.BODY, BODY_MAX);
    this.head = new Uint8Array(this.memory, Layout.HEAD, HEAD_MAX);
    this.seldonScan = exports.seldon;
    this.oipScan = exports.oip;
  }

  /** The rows of `b` if it is a compact Seldon body of rows of `f` values, their values in {@link view}; else 0. */
  seldon(b: Uint8Array, f: number): number {
    if (b.length > BODY_MAX) return 0;
    this.body.set(b);
    return this.seldonScan(b.length, f);
  }

  /** Whether `b` is the first `h` bytes of {@link head}, `count` values (then in {@link view}) and the tail. */
  oip(b: Uint8Array, h: number, count: number): boolean {
    if (b.length > BODY_MAX) return false;
    this.body.set(b);
    return this.oipScan(b.length, h, count) === 1;
  }

  /** The first `length` doubles the last scan wrote. */
  view(length: number): Float64Array {
    const last = this.last;
    if (last !== undefined && last.length === length) return last;
    return (this.last = new Float64Array(this.memory, Layout.OUT, length));
  }
}

const scanModule = compiledOnce(scanModuleBytes, 'MLOPS_SERVE_WASM');

/**
 * A scan of its own for a decoder, or undefined where WebAssembly is unavailable (or
 * `MLOPS_SERVE_WASM=0` asks for the JavaScript scan alone).
 */
export function compactScan(): CompactScan | undefined {
  const exports = scanModule.instantiate<ScanExports>();
  return exports === undefined ? undefined : new CompactScan(exports);
}

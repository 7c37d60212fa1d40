/**
 * Single-pass decoders for the request bodies clients send most: a Seldon `data.ndarray` (with
 * optional `data.names` and `meta.puid`) and an OIP request of one numeric tensor (with an
 * optional `id`). They read the body's bytes straight into the request scratch, without
 * `toString`, `JSON.parse` or the objects and arrays it builds; on the bench's one-row requests
 * that was most of the kit's CPU over bare node:http's.
 *
 * A fast decoder answers exactly what `JSON.parse` and the full decoder would for the body (same
 * rows, same values bit for bit, same `meta`, same id), or `undefined`: "not a shape I take".
 * It never reports an error. Anything else (malformed JSON, an escape or a non-ASCII byte in a
 * string, a duplicate or unexpected key, a body the full decoder would refuse, a batch past the
 * scratch) goes to the full path, which owns every message and every error shape. The fuzz in
 * `test/serving/fast-path.test.ts` holds the two to answering the same.
 *
 * Numbers are converted exactly: up to 15 significant digits and a decimal exponent within ±22
 * are one correctly rounded multiplication or division of two exact doubles (Clinger's fast path,
 * as V8's own `JSON.parse` does); any other number is handed to `Number` on its text, which
 * rounds as `JSON.parse` does.
 *
 * The compact bodies (what `JSON.stringify` writes, see {@link FastDecoder.compactSeldon}) are
 * scanned first by the WebAssembly function of `wasm-scan.ts` where there is one; what it does not
 * take, the JavaScript scans here read as they would without it.
 */
import type { ServedModel } from './model';
import { datatypeCheck, MAX_RANK, type OipRequest } from './oip';
import type { Float64Scratch } from './scratch';
import { responseMeta, type SeldonRequest } from './seldon';
import { Byte, OIP_TAIL_TEXT, SELDON_HEAD_TEXT, SELDON_TAIL_TEXT } from './json-bytes';
import { compactScan, type CompactScan, HEAD_MAX } from './wasm-scan';

/** The doubles 1e0 … 1e22: every one exact, so one operation with an exact mantissa rounds once. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const enum Limit {
  /** 10^15: mantissas below it are exact in a double (2^53 ≈ 9.007e15). */
  EXACT_MANTISSA_DIGITS = 15,
}

const bytes = (s: string) => Buffer.from(s, 'latin1');
const DATA = bytes('data');
const NDARRAY = bytes('ndarray');
const NAMES = bytes('names');
const META = bytes('meta');
const PUID = bytes('puid');
const INPUTS = bytes('inputs');
const ID = bytes('id');
const NAME = bytes('name');
const SHAPE = bytes('shape');
const DATATYPE = bytes('datatype');
const FP64 = bytes('FP64');
/** The compact bodies' fixed parts, as `JSON.stringify` writes them (see {@link FastDecoder.compactSeldon}). */
const SELDON_HEAD = bytes(SELDON_HEAD_TEXT);
const SELDON_TAIL = bytes(SELDON_TAIL_TEXT);
const OIP_HEAD = bytes('{"inputs":[{"name":"');
const OIP_SHAPE = bytes('","shape":[');
const OIP_DATA = bytes('],"datatype":"FP64","data":[');
const OIP_TAIL = bytes(OIP_TAIL_TEXT);

/** JSON's four whitespace bytes. */
function ws(b: Buffer, i: number): number {
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Whether bytes `[start, end)` of `b` are `key`. */
function is(b: Buffer, start: number, end: number, key: Uint8Array): boolean {
  return end - start === key.length && startsWith(b, start, key);
}

/** Whether `b` holds `key` at `at` (and is long enough to). */
function startsWith(b: Buffer, at: number, key: Uint8Array): boolean {
  // A typed array's length is a getter V8 re-reads on every loop test: once here.
  const n = key.length;
  if (at + n > b.length) return false;
  // Four bytes a turn: optimized code checks both arrays' maps and reloads their storage at the
  // top of every loop turn (the loop's interrupt check could have changed them), ~19
  // instructions a byte one at a time; straight-line accesses after the first reuse them.
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const i = at + k;
    if (b[i] !== key[k] || b[i + 1] !== key[k + 1] || b[i + 2] !== key[k + 2] || b[i + 3] !== key[k + 3])
      return false;
  }
  for (; k < n; k++) if (b[at + k] !== key[k]) return false;
  return true;
}

/** How a {@link FastDecoder} reads the compact bodies; the tests compare each way with the others. */
export interface FastDecoderOptions {
  /**
   * Try the compact form of the usual bodies first; false leaves every body to the general scan.
   * @default true
   */
  readonly compact?: boolean;
  /**
   * Scan the compact form with WebAssembly where it is available (and `MLOPS_SERVE_WASM` is not
   * `0`); false leaves it to the JavaScript scan.
   * @default true
   */
  readonly wasm?: boolean;
}

/**
 * The fast decoders of one server: its model, its `requestPath` and its scratch. One request is
 * decoded at a time (synchronously), so the scanner's registers live on the instance.
 *
 * The values a decoder returns (`x`) are valid until its next body: a view on the scratch, or on
 * the WebAssembly scan's memory when that scan took the body.
 *
 * @example
 * const fast = new FastDecoder(served, undefined, scratch);
 * const request = fast.seldon(body) ?? decodeSeldonRequest(JSON.parse(body.toString()), served, undefined, scratch);
 */
export class FastDecoder {
  private readonly f: number;
  /** Each feature name as the bytes of its JSON string's content, when it has no escape. */
  private readonly featureBytes: (Uint8Array | undefined)[];
  /** The response meta of a request without `meta.puid`: the same for every such request. */
  readonly plainMeta: { readonly json: string; readonly puid: string | undefined };
  /** `data.names` → model columns, reused. */
  private readonly order: Int32Array;
  private readonly seen: Uint8Array;
  /** Registers: the last number read, the last string's bounds. */
  private num = 0;
  private s0 = 0;
  private s1 = 0;
  /** The last member key's bounds, set by {@link key}. */
  private k0 = 0;
  private k1 = 0;
  /** Set by {@link next}: a comma was read, another member or element follows. */
  private more = false;
  /** What the last sub-parser counted (values, or rows), as its doc says. */
  private count = 0;
  /** Set by {@link names}. */
  private permuted = false;
  /** The text before the values of the last compact OIP body taken (see {@link compactOip}), and its rows. */
  private oipHead: Uint8Array | undefined;
  private oipHeadRows = 0;
  private readonly compact: boolean;
  /** The WebAssembly scan of the compact bodies, if there is one. */
  private readonly scan: CompactScan | undefined;
  /** {@link oipHead}'s length when the scan holds it too; 0 when it does not. */
  private scanHead = 0;

  constructor(
    model: ServedModel,
    private readonly requestPath: Readonly<Record<string, string>> | undefined,
    private readonly scratch: Float64Scratch,
    options: FastDecoderOptions = {},
  ) {
    this.compact = options.compact ?? true;
    this.scan = this.compact && (options.wasm ?? true) ? compactScan() : undefined;
    this.f = model.features.length;
    this.featureBytes = model.features.map((name) => {
      const json = JSON.stringify(name);
      const inner = bytes(json.slice(1, -1));
      // Only names the scanner can compare byte for byte: plain printable ASCII.
      return /^[\x20-\x7e]*$/.test(name) && json.length === name.length + 2 ? inner : undefined;
    });
    this.plainMeta = responseMeta(undefined, requestPath);
    this.order = new Int32Array(this.f);
    this.seen = new Uint8Array(this.f);
  }

  /**
   * A Seldon body of the form `{"data": {["names": [...],] "ndarray": [[...], ...]}[, "meta": {["puid": "..."]}]}`
   * (keys in any order), decoded as {@link decodeSeldonRequest} would; `undefined` for anything else.
   */
  seldon(b: Buffer): SeldonRequest | undefined {
    const f = this.f;
    // Each value takes at least a digit and a separator.
    const x = this.scratch.staging(b.length >> 1);
    if (x === undefined || f === 0) return undefined;
    if (this.compact) {
      const scan = this.scan;
      const scanned = scan === undefined ? 0 : scan.seldon(b, f);
      if (scanned > 0) return this.plainRequest(scanned, scan!.view(scanned * f));
      const rows = this.compactSeldon(b, x);
      if (rows > 0) return this.plainRequest(rows, this.scratch.view(rows * f));
    }
    let i = ws(b, 0);
    if (b[i] !== Byte.LBRACE) return undefined;
    let rows = -1;
    let sawMeta = false;
    let puid: string | undefined;
    i = ws(b, i + 1);
    do {
      i = this.key(b, i);
      if (i < 0) return undefined;
      if (rows < 0 && is(b, this.k0, this.k1, DATA)) {
        i = this.seldonData(b, i, x);
        rows = this.count / f;
      } else if (!sawMeta && is(b, this.k0, this.k1, META)) {
        sawMeta = true;
        i = this.seldonMeta(b, i);
        if (i >= 0 && this.s0 <= this.s1) puid = b.toString('latin1', this.s0, this.s1);
      } else {
        return undefined;
      }
      i = this.next(b, i, Byte.RBRACE);
      if (i < 0) return undefined;
    } while (this.more);
    if (rows < 0 || i !== b.length) return undefined;
    const meta = puid === undefined ? this.plainMeta : responseMeta({ puid }, this.requestPath);
    return { kind: 'ndarray', rows, x: this.scratch.view(rows * f), metaJson: meta.json, puid: meta.puid };
  }

  /** A request of `rows` rows, values `x`, without meta. */
  private plainRequest(rows: number, x: Float64Array): SeldonRequest {
    const meta = this.plainMeta;
    return { kind: 'ndarray', rows, x, metaJson: meta.json, puid: meta.puid };
  }

  /**
   * The body as `JSON.stringify` writes `{data: {ndarray: rows}}` with one or more rows:
   * `{"data":{"ndarray":[[v,…],…]}}`, nothing before or after, no whitespace. Its bytes are
   * compared with the fixed parts in one pass and only the numbers are parsed: what the general
   * scan does for this body without the keys, the whitespace and a call per token. Returns the
   * rows (their values in `x`), or 0 for any other body, which the general scan then reads from
   * the start: a partial match decides nothing.
   */
  private compactSeldon(b: Buffer, x: Float64Array): number {
    const f = this.f;
    const n = b.length;
    if (!startsWith(b, 0, SELDON_HEAD)) return 0;
    let i = SELDON_HEAD.length;
    let o = 0;
    for (;;) {
      if (o + f > x.length) return 0;
      i = this.compactRun(b, i, x, o, f);
      if (i < 0) return 0;
      o += f;
      // After a row's `]`: `,[` and the next row, or the tail and the end of the body.
      if (b[i] === Byte.COMMA && b[i + 1] === Byte.LBRACKET) i += 2;
      else return i + SELDON_TAIL.length - 1 === n && startsWith(b, i - 1, SELDON_TAIL) ? o / f : 0;
    }
  }

  /** `{["names": [...],] "ndarray": [...]}` at `i`; leaves the value count in `count`. */
  private seldonData(b: Buffer, i: number, x: Float64Array): number {
    if (b[i] !== Byte.LBRACE) return -1;
    let values = -1;
    let sawNames = false;
    let order: Int32Array | undefined;
    i = ws(b, i + 1);
    do {
      i = this.key(b, i);
      if (i < 0) return -1;
      if (values < 0 && is(b, this.k0, this.k1, NDARRAY)) {
        i = this.ndarray(b, i, x, order);
        values = this.count;
      } else if (!sawNames && is(b, this.k0, this.k1, NAMES)) {
        sawNames = true;
        i = this.names(b, i);
        if (this.permuted) {
          // Names after the rows may only confirm the model's order: the rows went in as they came.
          if (values >= 0) return -1;
          order = this.order;
        }
      } else {
        return -1;
      }
      i = this.next(b, i, Byte.RBRACE);
      if (i < 0) return -1;
    } while (this.more);
    this.count = values;
    return values < 0 ? -1 : i;
  }

  /**
   * `data.names` at `i`: `[]`, or each model feature once. Sets {@link permuted} when the order is
   * not the model's own, the permutation then in {@link order}.
   */
  private names(b: Buffer, i: number): number {
    this.permuted = false;
    if (b[i] !== Byte.LBRACKET) return -1;
    i = ws(b, i + 1);
    if (b[i] === Byte.RBRACKET) return i + 1;
    const f = this.f;
    const seen = this.seen;
    seen.fill(0);
    let identity = true;
    let n = 0;
    do {
      i = this.string(b, i);
      if (i < 0 || n >= f) return -1;
      let col = -1;
      for (let c = 0; c < f; c++) {
        const name = this.featureBytes[c];
        if (name !== undefined && is(b, this.s0, this.s1, name)) {
          col = c;
          break;
        }
      }
      if (col < 0 || seen[col] === 1) return -1;
      seen[col] = 1;
      this.order[n] = col;
      if (col !== n++) identity = false;
      i = this.next(b, i, Byte.RBRACKET);
      if (i < 0) return -1;
    } while (this.more);
    if (n !== f) return -1;
    this.permuted = !identity;
    return i;
  }

  /** `data.ndarray` at `i`: rows of exactly `f` numbers; leaves the value count in `count`. */
  private ndarray(b: Buffer, i: number, x: Float64Array, order: Int32Array | undefined): number {
    const f = this.f;
    if (b[i] !== Byte.LBRACKET) return -1;
    i = ws(b, i + 1);
    let o = 0;
    if (b[i] === Byte.RBRACKET) {
      this.count = 0;
      return i + 1;
    }
    do {
      if (b[i] !== Byte.LBRACKET || o + f > x.length) return -1;
      i = ws(b, i + 1);
      let j = 0;
      do {
        i = this.number(b, i);
        if (i < 0 || j === f) return -1;
        x[o + (order === undefined ? j : order[j]!)] = this.num;
        j++;
        i = this.next(b, i, Byte.RBRACKET);
        if (i < 0) return -1;
      } while (this.more);
      if (j !== f) return -1;
      o += f;
      i = this.next(b, i, Byte.RBRACKET);
      if (i < 0) return -1;
    } while (this.more);
    this.count = o;
    return i;
  }

  /** `meta` at `i`: `{}` or `{"puid": "..."}`; leaves the puid's bounds in s0/s1, or s0 > s1 for none. */
  private seldonMeta(b: Buffer, i: number): number {
    if (b[i] !== Byte.LBRACE) return -1;
    i = ws(b, i + 1);
    if (b[i] === Byte.RBRACE) {
      this.s0 = 1;
      this.s1 = 0;
      return i + 1;
    }
    i = this.string(b, i);
    if (i < 0 || !is(b, this.s0, this.s1, PUID)) return -1;
    i = ws(b, i);
    if (b[i] !== Byte.COLON) return -1;
    i = this.string(b, ws(b, i + 1));
    if (i < 0) return -1;
    i = ws(b, i);
    return b[i] === Byte.RBRACE ? i + 1 : -1;
  }

  /**
   * An OIP body of the form `{"inputs": [{"name", "shape": [N, f], "datatype", "data"}][, "id": "..."]}`
   * (keys in any order, a numeric datatype, data flat or nested), decoded as {@link decodeOipRequest}
   * would; `undefined` for anything else.
   */
  oip(b: Buffer): OipRequest | undefined {
    const f = this.f;
    const x = this.scratch.staging(b.length >> 1);
    // A one-feature model reads a single input named after its feature as a column: the full path's call.
    if (x === undefined || f < 2) return undefined;
    if (this.compact) {
      // The scan compares the body with the last compact body's head, so it takes the second one on.
      const scan = this.scan;
      const head = this.scanHead;
      if (scan !== undefined && head > 0) {
        const rows = this.oipHeadRows;
        if (scan.oip(b, head, rows * f)) return { id: undefined, rows, x: scan.view(rows * f) };
      }
      const rows = this.compactOip(b, x);
      if (rows > 0) return { id: undefined, rows, x: this.scratch.view(rows * f) };
    }
    let i = ws(b, 0);
    if (b[i] !== Byte.LBRACE) return undefined;
    let rows = -1;
    let id: string | undefined;
    let sawId = false;
    i = ws(b, i + 1);
    do {
      i = this.key(b, i);
      if (i < 0) return undefined;
      if (rows < 0 && is(b, this.k0, this.k1, INPUTS)) {
        if (b[i] !== Byte.LBRACKET) return undefined;
        i = this.oipTensor(b, ws(b, i + 1), x);
        rows = this.count;
        // Exactly one input: several are the columnar form, the full path's.
        if (i >= 0) i = this.next(b, i, Byte.RBRACKET);
        if (this.more) return undefined;
      } else if (!sawId && is(b, this.k0, this.k1, ID)) {
        sawId = true;
        i = this.string(b, i);
        if (i >= 0) id = b.toString('latin1', this.s0, this.s1);
      } else {
        return undefined;
      }
      i = this.next(b, i, Byte.RBRACE);
      if (i < 0) return undefined;
    } while (this.more);
    if (rows < 0 || i !== b.length) return undefined;
    return { id, rows, x: this.scratch.view(rows * f) };
  }

  /**
   * The body as `JSON.stringify` writes one FP64 tensor of one or more rows, its data flat and its
   * keys in the specification's order: `{"inputs":[{"name":"…","shape":[N,f],"datatype":"FP64","data":[v,…]}]}`,
   * nothing before or after, no whitespace, no `id`. As {@link compactSeldon}: returns N (the
   * values in `x`), or 0 for any other body, which the general scan then reads from the start.
   */
  private compactOip(b: Buffer, x: Float64Array): number {
    const f = this.f;
    let i: number;
    let rows: number;
    // Clients send one input name and batch size over and over: the text before the values is
    // then the last accepted body's, compared whole instead of read field by field.
    const known = this.oipHead;
    const hit = known !== undefined && startsWith(b, 0, known);
    if (hit) {
      i = known!.length;
      rows = this.oipHeadRows;
    } else {
      if (!startsWith(b, 0, OIP_HEAD)) return 0;
      i = this.string(b, OIP_HEAD.length - 1);
      if (i < 0 || !startsWith(b, i - 1, OIP_SHAPE)) return 0;
      i += OIP_SHAPE.length - 1;
      if (b[i] === Byte.MINUS) return 0;
      i = this.number(b, i);
      rows = this.num;
      if (i < 0 || b[i] !== Byte.COMMA || !Number.isInteger(rows) || rows === 0) return 0;
      i = this.number(b, i + 1);
      if (i < 0 || this.num !== f || !startsWith(b, i, OIP_DATA)) return 0;
      i += OIP_DATA.length;
    }
    if (rows * f > x.length) return 0;
    const head = i;
    i = this.compactRun(b, i, x, 0, rows * f);
    if (i < 0 || i + OIP_TAIL.length - 1 !== b.length || !startsWith(b, i - 1, OIP_TAIL)) return 0;
    if (!hit) {
      this.oipHead = Uint8Array.from(b.subarray(0, head));
      this.oipHeadRows = rows;
      const scan = this.scan;
      this.scanHead = scan !== undefined && head <= HEAD_MAX ? head : 0;
      if (this.scanHead > 0) scan!.head.set(this.oipHead);
    }
    return rows;
  }

  /**
   * The compact bodies' `v,v,…,v]` at `i`: `n` numbers into `x` from `o`, the index after the `]`
   * returned; -1 when anything else is there.
   *
   * The usual values, short decimals (`-?digits(.digits)?`, 15 digits at most, no exponent), are
   * read here in one loop and one division, the same correctly rounded one {@link number} makes
   * for them; any other text goes to {@link number}. Written out in this loop rather than called:
   * a call's result passed back through `num` cost a store and a check of this object per value,
   * and each module constant a load from the module's context (~100 instructions a value).
   */
  private compactRun(b: Buffer, i: number, x: Float64Array, o: number, n: number): number {
    const pow10 = POW10;
    for (let k = 0; k < n; k++) {
      const start = i;
      let c = b[i]!;
      const negative = c === Byte.MINUS;
      if (negative) c = b[++i]!;
      // -1: not a short decimal (NaN past the end of the body fails the comparisons too).
      let m = c - Byte.ZERO;
      let digits = 1;
      let scale = 0;
      if (!(m >= 0 && m <= 9)) m = -1;
      else {
        c = b[++i]!;
        if (m === 0) {
          // JSON has no leading zeros: number() refuses them.
          if (c >= Byte.ZERO && c <= Byte.NINE) m = -1;
        } else {
          while (c >= Byte.ZERO && c <= Byte.NINE) {
            m = m * 10 + (c - Byte.ZERO);
            digits++;
            c = b[++i]!;
          }
        }
        if (m >= 0 && c === Byte.DOT) {
          c = b[++i]!;
          // A fraction needs a digit: number() refuses `1.`.
          if (!(c >= Byte.ZERO && c <= Byte.NINE)) m = -1;
          else {
            do {
              m = m * 10 + (c - Byte.ZERO);
              scale++;
              c = b[++i]!;
            } while (c >= Byte.ZERO && c <= Byte.NINE);
          }
        }
      }
      let v: number;
      if (m < 0 || (c | 0x20) === 0x65 || digits + scale > Limit.EXACT_MANTISSA_DIGITS) {
        i = this.number(b, start);
        if (i < 0) return -1;
        v = this.num;
        c = b[i]!;
      } else {
        v = scale === 0 ? m : m / pow10[scale]!;
        if (negative) v = -v;
      }
      x[o + k] = v;
      if (c !== (k === n - 1 ? Byte.RBRACKET : Byte.COMMA)) return -1;
      i++;
    }
    return i;
  }

  /** One tensor object at `i` of shape `[N, f]`; leaves N in `count`. */
  private oipTensor(b: Buffer, i: number, x: Float64Array): number {
    if (b[i] !== Byte.LBRACE) return -1;
    let sawName = false;
    let rows = -1;
    let values = -1;
    let dt0 = -1;
    let dt1 = -1;
    i = ws(b, i + 1);
    do {
      i = this.key(b, i);
      if (i < 0) return -1;
      if (!sawName && is(b, this.k0, this.k1, NAME)) {
        sawName = true;
        i = this.string(b, i);
      } else if (rows < 0 && is(b, this.k0, this.k1, SHAPE)) {
        i = this.shape(b, i);
        rows = this.count;
      } else if (dt0 < 0 && is(b, this.k0, this.k1, DATATYPE)) {
        i = this.string(b, i);
        dt0 = this.s0;
        dt1 = this.s1;
      } else if (values < 0 && is(b, this.k0, this.k1, DATA)) {
        i = this.values(b, i, x);
        values = this.count;
      } else {
        return -1;
      }
      i = this.next(b, i, Byte.RBRACE);
      if (i < 0) return -1;
    } while (this.more);
    if (!sawName || rows < 0 || dt0 < 0 || values !== rows * this.f) return -1;
    if (!is(b, dt0, dt1, FP64)) {
      // Other numeric datatypes: each value checked for the datatype's domain, as the full path does.
      const check = datatypeCheck(b.toString('latin1', dt0, dt1));
      if (check === undefined) return -1;
      for (let k = 0; k < values; k++) if (check(x[k]) === undefined) return -1;
    }
    this.count = rows;
    return i;
  }

  /** `[N, f]` with N a non-negative integer; leaves N in `count`. */
  private shape(b: Buffer, i: number): number {
    if (b[i] !== Byte.LBRACKET || b[ws(b, i + 1)] === Byte.MINUS) return -1;
    i = this.number(b, ws(b, i + 1));
    if (i < 0) return -1;
    const rows = this.num;
    if (!Number.isInteger(rows)) return -1;
    i = ws(b, i);
    if (b[i] !== Byte.COMMA) return -1;
    i = this.number(b, ws(b, i + 1));
    if (i < 0 || this.num !== this.f) return -1;
    i = ws(b, i);
    if (b[i] !== Byte.RBRACKET) return -1;
    this.count = rows;
    return i + 1;
  }

  /** Numbers in arrays nested at most {@link MAX_RANK} deep, flattened in order; leaves how many in `count`. */
  private values(b: Buffer, i: number, x: Float64Array): number {
    if (b[i] !== Byte.LBRACKET) return -1;
    let depth = 1;
    let n = 0;
    i = ws(b, i + 1);
    if (b[i] === Byte.RBRACKET) {
      this.count = 0;
      return i + 1;
    }
    for (;;) {
      // A value at i: an array (possibly empty) or a number.
      if (b[i] === Byte.LBRACKET) {
        if (++depth > MAX_RANK) return -1;
        i = ws(b, i + 1);
        if (b[i] !== Byte.RBRACKET) continue;
        depth--;
        i++;
      } else {
        i = this.number(b, i);
        if (i < 0 || n >= x.length) return -1;
        x[n++] = this.num;
      }
      // After a value: a comma and the next, or closing brackets.
      for (;;) {
        i = ws(b, i);
        if (b[i] === Byte.COMMA) break;
        if (b[i] !== Byte.RBRACKET) return -1;
        i++;
        if (--depth === 0) {
          this.count = n;
          return i;
        }
      }
      i = ws(b, i + 1);
    }
  }

  /** A member's key and colon at `i`: the key's bounds in k0/k1, the index of its value returned. */
  private key(b: Buffer, i: number): number {
    i = this.string(b, i);
    if (i < 0) return -1;
    this.k0 = this.s0;
    this.k1 = this.s1;
    i = ws(b, i);
    return b[i] === Byte.COLON ? ws(b, i + 1) : -1;
  }

  /**
   * After a value at `i` (-1 passes through): a comma (sets {@link more}, returns the next value's
   * index) or `close` (clears it, returns the index after the close and its whitespace).
   */
  private next(b: Buffer, i: number, close: number): number {
    if (i < 0) return -1;
    i = ws(b, i);
    const c = b[i];
    this.more = c === Byte.COMMA;
    return c === Byte.COMMA || c === close ? ws(b, i + 1) : -1;
  }

  /**
   * A string of printable ASCII without escapes at `i`: its content's bounds in s0/s1, the index
   * after it returned; -1 for anything else (the full path decodes escapes and UTF-8).
   */
  private string(b: Buffer, i: number): number {
    if (b[i] !== Byte.QUOTE) return -1;
    const n = b.length;
    const start = ++i;
    while (i < n) {
      const c = b[i]!;
      if (c === Byte.QUOTE) {
        this.s0 = start;
        this.s1 = i;
        return i + 1;
      }
      if (c < 0x20 || c === Byte.BACKSLASH || c >= 0x7f) return -1;
      i++;
    }
    return -1;
  }

  /**
   * A JSON number at `i`, its value in `num`, the index after it returned; -1 when there is no
   * valid JSON number there or its value is not finite (the full path's error).
   */
  private number(b: Buffer, i: number): number {
    const n = b.length;
    const start = i;
    let c = i < n ? b[i]! : 0;
    const negative = c === Byte.MINUS;
    if (negative) c = ++i < n ? b[i]! : 0;
    let mantissa = 0;
    let significant = 0;
    let exponent = 0;
    if (c === Byte.ZERO) {
      c = ++i < n ? b[i]! : 0;
      // JSON has no leading zeros.
      if (c >= Byte.ZERO && c <= Byte.NINE) return -1;
    } else if (c > Byte.ZERO && c <= Byte.NINE) {
      do {
        mantissa = mantissa * 10 + (c - Byte.ZERO);
        significant++;
        c = ++i < n ? b[i]! : 0;
      } while (c >= Byte.ZERO && c <= Byte.NINE);
    } else {
      return -1;
    }
    if (c === Byte.DOT) {
      c = ++i < n ? b[i]! : 0;
      if (!(c >= Byte.ZERO && c <= Byte.NINE)) return -1;
      do {
        mantissa = mantissa * 10 + (c - Byte.ZERO);
        if (mantissa !== 0) significant++;
        exponent--;
        c = ++i < n ? b[i]! : 0;
      } while (c >= Byte.ZERO && c <= Byte.NINE);
    }
    if (c === 0x65 || c === 0x45) {
      c = ++i < n ? b[i]! : 0;
      const expNegative = c === Byte.MINUS;
      if (expNegative || c === Byte.PLUS) c = ++i < n ? b[i]! : 0;
      if (!(c >= Byte.ZERO && c <= Byte.NINE)) return -1;
      let e = 0;
      do {
        // Saturates: any exponent this large goes the slow way below.
        if (e < 100_000) e = e * 10 + (c - Byte.ZERO);
        c = ++i < n ? b[i]! : 0;
      } while (c >= Byte.ZERO && c <= Byte.NINE);
      exponent += expNegative ? -e : e;
    }
    let v: number;
    if (mantissa === 0) v = negative ? -0 : 0;
    else if (significant <= Limit.EXACT_MANTISSA_DIGITS && exponent >= -22 && exponent <= 22) {
      v = exponent < 0 ? mantissa / POW10[-exponent]! : mantissa * POW10[exponent]!;
      if (negative) v = -v;
    } else {
      v = Number(b.toString('latin1', start, i));
      if (v - v !== 0) return -1;
    }
    this.num = v;
    return i;
  }
}

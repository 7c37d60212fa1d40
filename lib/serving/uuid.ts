/**
 * Random (version 4) UUIDs for request ids, made {@link UUID_BATCH} at a time: one
 * `randomFillSync`, the batch's text written as bytes and turned into one string, each id then a
 * slice of it. `randomUUID()` draws its random bytes 128 ids at a time, but builds each id's string
 * from pieces: about 135 bytes of garbage per request, the largest part of what the model server
 * allocated beyond bare node:http's own (a scavenge every ~120 requests instead of ~150 with a
 * 1 MiB semi-space).
 *
 * The text is written by a WebAssembly function of a few dozen instructions (hand-encoded below):
 * under callgrind it takes ~100 instructions an id where the same loop in JavaScript, optimized,
 * took ~600 in the server (~200 standalone: what V8 makes of it depends on where it is inlined and
 * how often it runs, about once per thousand requests). The JavaScript loop stays as the fallback
 * where WebAssembly is unavailable (`node --jitless`), and the tests hold the two to the same text.
 */
import { randomFillSync } from 'node:crypto';

/**
 * Ids per refill: `randomFillSync` costs a crypto job object per call (about the same for 2 KiB as
 * for 16 KiB), so fewer, larger calls. The batch is 16 KiB of random bytes and 36 KiB of text.
 */
export const UUID_BATCH = 1024;
const BATCH = UUID_BATCH;

/**
 * A byte's two hex digits as one little-endian 16-bit word (the high nibble's digit first in
 * memory): one table load and one store per byte.
 */
const HEX2 = Uint16Array.from({ length: 256 }, (_, b) => {
  const digit = (n: number) => '0123456789abcdef'.charCodeAt(n);
  return digit(b >> 4) | (digit(b & 15) << 8);
});
/** Where each of an id's 16 bytes puts its two digits in the id's 36 characters (dashes at 8, 13, 18, 23). */
const DIGITS_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** The formatter's memory: the digit table, then the random bytes, then the text (one 64 KiB page). */
const TABLE_AT = 0;
const RANDOM_AT = 512;
const TEXT_AT = RANDOM_AT + 16 * BATCH;

/** unsigned LEB128, as WebAssembly encodes sizes and offsets. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    const low = n & 0x7f;
    n >>>= 7;
    out.push(n === 0 ? low : low | 0x80);
  } while (n !== 0);
  return out;
}
/** `i32.const n` for n ≥ 0: signed LEB128, so a last group with its 0x40 bit set needs one more byte. */
function sconst(n: number): number[] {
  const out = [0x41];
  for (;;) {
    const low = n & 0x7f;
    n >>>= 7;
    if (n === 0 && (low & 0x40) === 0) return [...out, low];
    out.push(low | 0x80);
  }
}

/**
 * `format(n)`: for each of `n` ids, set the version and variant bits of its 16 random bytes (as
 * RFC 9562 §5.4 says) and write their digits into its text. Locals: 0 n, 1 r (random byte
 * address), 2 t (text address), 3 the random bytes' end.
 */
function formatModule(): Uint8Array {
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const load8 = (offset: number) => [0x2d, 0, ...leb(offset)];
  const store8 = (offset: number) => [0x3a, 0, ...leb(offset)];
  const body: number[] = [
    1, 3, 0x7f, // three i32 locals
    ...sconst(RANDOM_AT), ...set(1),
    ...sconst(TEXT_AT), ...set(2),
    ...get(0), ...sconst(16), 0x6c, ...sconst(RANDOM_AT), 0x6a, ...set(3), // end = RANDOM_AT + 16 n
    0x03, 0x40, // loop
    // byte 6: version 4 in the high nibble; byte 8: variant 10 in the high bits.
    ...get(1), ...get(1), ...load8(6), ...sconst(0x0f), 0x71, ...sconst(0x40), 0x72, ...store8(6),
    ...get(1), ...get(1), ...load8(8), ...sconst(0x3f), 0x71, ...sconst(0x80), 0x72, ...store8(8),
    // text[t + DIGITS_AT[k]] (16 bits) = table[2 · random[r + k]]
    ...DIGITS_AT.flatMap((at, k) => [
      ...get(2), ...get(1), ...load8(k), ...sconst(1), 0x74, 0x2f, 1, ...leb(TABLE_AT), 0x3b, 1, ...leb(at),
    ]),
    ...get(1), ...sconst(16), 0x6a, ...set(1),
    ...get(2), ...sconst(36), 0x6a, ...set(2),
    ...get(1), ...get(3), 0x49, 0x0d, 0, // br_if (r < end) to the loop's top
    0x0b, // end loop
    0x0b, // end function
  ];
  const section = (id: number, bytes: number[]) => [id, ...leb(bytes.length), ...bytes];
  const name = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 1, 0x7f, 0]), // type 0: (i32) -> ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0, 1]), // one memory of one page, never grown
    ...section(7, [2, ...name('memory'), 2, 0, ...name('format'), 0, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

interface Formatter {
  readonly memory: { readonly buffer: ArrayBuffer };
  format(n: number): void;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
let compiled: object | null | undefined;
/** A fresh instance of the formatter (its own memory), or `undefined` without WebAssembly. */
function formatter(): Formatter | undefined {
  if (compiled === undefined) {
    try {
      compiled = wasm === undefined ? null : new wasm.Module(formatModule());
    } catch {
      compiled = null;
    }
  }
  return compiled === null ? undefined : (new wasm!.Instance(compiled, {}).exports as Formatter);
}

/** The fallback: what `format` does, in JavaScript. */
function formatInJs(r: Buffer, text: Buffer): void {
  const o = new DataView(text.buffer, text.byteOffset, text.byteLength);
  for (let ri = 0, ti = 0; ri < 16 * BATCH; ri += 16, ti += 36) {
    r[ri + 6] = (r[ri + 6]! & 0x0f) | 0x40;
    r[ri + 8] = (r[ri + 8]! & 0x3f) | 0x80;
    for (let k = 0; k < 16; k++) o.setUint16(ti + DIGITS_AT[k]!, HEX2[r[ri + k]!]!, true);
  }
}

/**
 * A source of fresh v4 UUIDs, `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`, lowercase.
 *
 * @example
 * const ids = new UuidSource();
 * ids.take(); // '3b241101-e2bb-4255-8caf-4136c566a962'
 */
export class UuidSource {
  private readonly random: Buffer;
  /** The batch's text; the dashes, written once, stay where they are. */
  private readonly text: Buffer;
  private readonly wasm: Formatter | undefined;
  private batch = '';
  private next = BATCH;

  /**
   * @param fill fills a buffer with random bytes. @default crypto's randomFillSync
   * @param useWasm format with the WebAssembly function when there is one. @default true
   */
  constructor(
    private readonly fill: (b: Buffer) => Buffer = randomFillSync,
    useWasm = true,
  ) {
    this.wasm = useWasm ? formatter() : undefined;
    if (this.wasm !== undefined) {
      const memory = this.wasm.memory.buffer;
      Buffer.from(memory, TABLE_AT, 512).set(new Uint8Array(HEX2.buffer));
      this.random = Buffer.from(memory, RANDOM_AT, 16 * BATCH);
      this.text = Buffer.from(memory, TEXT_AT, 36 * BATCH).fill(0x2d);
    } else {
      this.random = Buffer.alloc(16 * BATCH);
      this.text = Buffer.alloc(36 * BATCH, 0x2d);
    }
  }

  /** Whether ids are formatted by the WebAssembly function (false: the JavaScript fallback). */
  get formattedInWasm(): boolean {
    return this.wasm !== undefined;
  }

  take(): string {
    if (this.next === BATCH) this.refill();
    const at = 36 * this.next++;
    return this.batch.slice(at, at + 36);
  }

  private refill(): void {
    this.fill(this.random);
    if (this.wasm !== undefined) this.wasm.format(BATCH);
    else formatInJs(this.random, this.text);
    this.batch = this.text.toString('latin1');
    this.next = 0;
  }
}

/**
 * Random (version 4) UUIDs for request ids, made {@link UUID_BATCH} at a time: one
 * `randomFillSync`, the batch's text written as bytes and turned into strings of 128 ids, each id
 * then a slice of one. `randomUUID()` draws its random bytes 128 ids at a time, but builds each id's string
 * from pieces: about 135 bytes of garbage per request, the largest part of what the model server
 * allocated beyond bare node:http's own (a scavenge every ~120 requests instead of ~150 with a
 * 1 MiB semi-space).
 *
 * The text is written by a WebAssembly function of a few dozen instructions (hand-encoded below):
 * under callgrind it takes ~100 instructions an id where the same loop in JavaScript, optimized,
 * took ~600 in the server (~200 standalone: what V8 makes of it depends on where it is inlined and
 * how often it runs, about once per thousand requests). The JavaScript loop stays as the fallback
 * where WebAssembly is unavailable (`node --jitless`) or `MLOPS_SERVE_WASM=0`, and the tests hold the
 * two to the same text.
 */
import { randomFillSync } from 'node:crypto';
import { compiledOnce, ExportKind, exportEntry, funcBody, funcType, I32, moduleBytes, op, Section, uleb, vec } from '../shared/wasm';

/**
 * Ids per refill: `randomFillSync` costs a crypto job object per call (about the same for 2 KiB as
 * for 16 KiB), so fewer, larger calls. The batch is 16 KiB of random bytes and 36 KiB of text.
 */
export const UUID_BATCH = 1024;
const BATCH = UUID_BATCH;
/**
 * Ids per string: the ids are slices that keep their string alive, and a string that outlives two
 * scavenges moves to the old generation, where only a full GC frees it. A run of 128 (4.6 KB) is
 * used up in about one scavenge's worth of requests; the whole batch's text as one 36 KiB string
 * was promoted every time, and the server's heap grew by ~36 bytes a request.
 */
const TEXT_RUN = 128;

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

/**
 * `format(n)`: for each of `n` ids, set the version and variant bits of its 16 random bytes (as
 * RFC 9562 §5.4 says) and write their digits into its text. Locals: 0 n, 1 r (random byte
 * address), 2 t (text address), 3 the random bytes' end.
 */
function formatModuleBytes(): Uint8Array {
  const [n, r, t, end] = [0, 1, 2, 3];
  const body = [
    ...op.i32(RANDOM_AT), ...op.set(r),
    ...op.i32(TEXT_AT), ...op.set(t),
    ...op.get(n), ...op.i32(16), ...op.i32Mul, ...op.i32(RANDOM_AT), ...op.i32Add, ...op.set(end),
    ...op.loop,
    // byte 6: version 4 in the high nibble; byte 8: variant 10 in the high bits.
    ...op.get(r), ...op.get(r), ...op.i32Load8U(6), ...op.i32(0x0f), ...op.i32And, ...op.i32(0x40), ...op.i32Or, ...op.i32Store8(6),
    ...op.get(r), ...op.get(r), ...op.i32Load8U(8), ...op.i32(0x3f), ...op.i32And, ...op.i32(0x80), ...op.i32Or, ...op.i32Store8(8),
    // text[t + DIGITS_AT[k]] (16 bits) = table[2 · random[r + k]]
    ...DIGITS_AT.flatMap((at, k) => [
      ...op.get(t), ...op.get(r), ...op.i32Load8U(k), ...op.i32(1), ...op.i32Shl, ...op.i32Load16U(TABLE_AT), ...op.i32Store16(at),
    ]),
    ...op.get(r), ...op.i32(16), ...op.i32Add, ...op.set(r),
    ...op.get(t), ...op.i32(36), ...op.i32Add, ...op.set(t),
    ...op.get(r), ...op.get(end), ...op.i32LtU, ...op.brIf(0),
    ...op.end,
  ];
  return moduleBytes([
    [Section.TYPE, vec([funcType([I32], [])])],
    [Section.FUNCTION, vec([uleb(0)])],
    // One page, never grown: the views on it stay valid.
    [Section.MEMORY, vec([[0x00, 1]])],
    [Section.EXPORT, vec([exportEntry('memory', ExportKind.MEMORY, 0), exportEntry('format', ExportKind.FUNC, 0)])],
    [Section.CODE, vec([funcBody([[3, I32]], body)])],
  ]);
}

interface Formatter {
  readonly memory: { readonly buffer: ArrayBuffer };
  format(n: number): void;
}
/** The formatter module (`MLOPS_SERVE_WASM=0` turns it off, as it does the body scan). */
const formatModule = compiledOnce(formatModuleBytes, 'MLOPS_SERVE_WASM');

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
  /** The text of ids `first` … `first + TEXT_RUN - 1` of the batch, as one string. */
  private run = '';
  private first = 0;
  /** The batch's next id, and where its current run of text ends. */
  private next = BATCH;
  private runEnd = BATCH;

  /**
   * @param fill fills a buffer with random bytes. @default crypto's randomFillSync
   * @param useWasm format with the WebAssembly function when there is one. @default true
   */
  constructor(
    private readonly fill: (b: Buffer) => Buffer = randomFillSync,
    useWasm = true,
  ) {
    this.wasm = useWasm ? formatModule.instantiate<Formatter>() : undefined;
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
    if (this.next === this.runEnd) this.nextRun();
    const at = 36 * (this.next++ - this.first);
    return this.run.slice(at, at + 36);
  }

  private nextRun(): void {
    if (this.next === BATCH) {
      this.fill(this.random);
      if (this.wasm !== undefined) this.wasm.format(BATCH);
      else formatInJs(this.random, this.text);
      this.next = 0;
    }
    this.first = this.next;
    this.runEnd = Math.min(BATCH, this.next + TEXT_RUN);
    this.run = this.text.toString('latin1', 36 * this.first, 36 * this.runEnd);
  }
}

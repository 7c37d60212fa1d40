/**
 * Random (version 4) UUIDs for request ids, made 128 at a time: one `randomFillSync`, the batch's
 * text written as bytes and turned into one string, each id then a slice of it. `randomUUID()`
 * also draws its random bytes 128 ids at a time, but builds each id's string from pieces: about
 * 135 bytes of garbage per request, the largest part of what the model server allocated beyond
 * bare node:http's own (a scavenge every ~120 requests instead of ~150 with a 1 MiB semi-space).
 */
import { randomFillSync } from 'node:crypto';

const BATCH = 128;
/**
 * A byte's two hex digits as one little-endian 16-bit word (the high nibble's digit first in
 * memory): one table load and one store per byte, where digit by digit was two of each and a
 * branch for the dashes, ~50 ns per id against ~10.
 */
const HEX2 = Uint16Array.from({ length: 256 }, (_, b) => {
  const digit = (n: number) => '0123456789abcdef'.charCodeAt(n);
  return digit(b >> 4) | (digit(b & 15) << 8);
});

/**
 * A source of fresh v4 UUIDs, `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`, lowercase.
 *
 * @example
 * const ids = new UuidSource();
 * ids.take(); // '3b241101-e2bb-4255-8caf-4136c566a962'
 */
export class UuidSource {
  private readonly random = Buffer.alloc(16 * BATCH);
  /** The batch's text; the dashes, written once, stay where they are. */
  private readonly text = Buffer.alloc(36 * BATCH, 0x2d);
  private readonly out = new DataView(this.text.buffer, this.text.byteOffset, this.text.byteLength);
  private batch = '';
  private next = BATCH;

  /** @param fill fills a buffer with random bytes. @default crypto's randomFillSync */
  constructor(private readonly fill: (b: Buffer) => Buffer = randomFillSync) {}

  take(): string {
    if (this.next === BATCH) this.refill();
    const at = 36 * this.next++;
    return this.batch.slice(at, at + 36);
  }

  private refill(): void {
    const r = this.fill(this.random);
    const o = this.out;
    for (let ri = 0, ti = 0; ri < 16 * BATCH; ri += 16, ti += 36) {
      // RFC 9562 §5.4: version 4 in the high nibble of byte 6, variant 10 in the high bits of byte 8.
      r[ri + 6] = (r[ri + 6]! & 0x0f) | 0x40;
      r[ri + 8] = (r[ri + 8]! & 0x3f) | 0x80;
      // Bytes 0-3, 4-5, 6-7, 8-9, 10-15 as hex, after the dashes at 8, 13, 18 and 23.
      o.setUint16(ti, HEX2[r[ri]!]!, true);
      o.setUint16(ti + 2, HEX2[r[ri + 1]!]!, true);
      o.setUint16(ti + 4, HEX2[r[ri + 2]!]!, true);
      o.setUint16(ti + 6, HEX2[r[ri + 3]!]!, true);
      o.setUint16(ti + 9, HEX2[r[ri + 4]!]!, true);
      o.setUint16(ti + 11, HEX2[r[ri + 5]!]!, true);
      o.setUint16(ti + 14, HEX2[r[ri + 6]!]!, true);
      o.setUint16(ti + 16, HEX2[r[ri + 7]!]!, true);
      o.setUint16(ti + 19, HEX2[r[ri + 8]!]!, true);
      o.setUint16(ti + 21, HEX2[r[ri + 9]!]!, true);
      o.setUint16(ti + 24, HEX2[r[ri + 10]!]!, true);
      o.setUint16(ti + 26, HEX2[r[ri + 11]!]!, true);
      o.setUint16(ti + 28, HEX2[r[ri + 12]!]!, true);
      o.setUint16(ti + 30, HEX2[r[ri + 13]!]!, true);
      o.setUint16(ti + 32, HEX2[r[ri + 14]!]!, true);
      o.setUint16(ti + 34, HEX2[r[ri + 15]!]!, true);
    }
    this.batch = this.text.toString('latin1');
    this.next = 0;
  }
}

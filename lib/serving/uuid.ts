/**
 * Random (version 4) UUIDs for request ids, made 128 at a time: one `randomFillSync`, the batch's
 * text written as bytes and turned into one string, each id then a slice of it. `randomUUID()`
 * also draws its random bytes 128 ids at a time, but builds each id's string from pieces: about
 * 135 bytes of garbage per request, the largest part of what the model server allocated beyond
 * bare node:http's own (a scavenge every ~120 requests instead of ~150 with a 1 MiB semi-space).
 */
import { randomFillSync } from 'node:crypto';

const BATCH = 128;
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A source of fresh v4 UUIDs, `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`, lowercase.
 *
 * @example
 * const ids = new UuidSource();
 * ids.take(); // '3b241101-e2bb-4255-8caf-4136c566a962'
 */
export class UuidSource {
  private readonly random = Buffer.alloc(16 * BATCH);
  private readonly text = Buffer.alloc(36 * BATCH);
  private batch = '';
  private next = BATCH;

  take(): string {
    if (this.next === BATCH) this.refill();
    const at = 36 * this.next++;
    return this.batch.slice(at, at + 36);
  }

  private refill(): void {
    const r = randomFillSync(this.random);
    const t = this.text;
    for (let u = 0, ri = 0, ti = 0; u < BATCH; u++, ri += 16) {
      // RFC 9562 §5.4: version 4 in the high nibble of byte 6, variant 10 in the high bits of byte 8.
      r[ri + 6] = (r[ri + 6]! & 0x0f) | 0x40;
      r[ri + 8] = (r[ri + 8]! & 0x3f) | 0x80;
      for (let k = 0; k < 16; k++) {
        if (k === 4 || k === 6 || k === 8 || k === 10) t[ti++] = 0x2d;
        const b = r[ri + k]!;
        t[ti++] = HEX[b >> 4]!;
        t[ti++] = HEX[b & 15]!;
      }
    }
    this.batch = t.toString('latin1');
    this.next = 0;
  }
}

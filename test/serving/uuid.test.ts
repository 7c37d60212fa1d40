/** Request ids made in batches (lib/serving/uuid.ts): well-formed v4 UUIDs, all distinct, across batches too. */
import { describe, expect, it } from 'vitest';
import { UUID_BATCH, UuidSource } from '../../lib/serving/uuid';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('UuidSource', () => {
  it('formats with WebAssembly by default where there is WebAssembly (Node 20 and up)', () => {
    expect(new UuidSource().formattedInWasm).toBe(true);
  });

  it('gives version-4 UUIDs, every one distinct, over many batches', () => {
    const ids = new UuidSource();
    const seen = new Set<string>();
    for (let i = 0; i < 3 * UUID_BATCH + 7; i++) {
      const id = ids.take();
      expect(id).toMatch(V4);
      seen.add(id);
    }
    expect(seen.size).toBe(3 * UUID_BATCH + 7);
  });

  it('draws random bits: every hex digit shows up in every free position', () => {
    const ids = new UuidSource();
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) [...ids.take()].forEach((c, k) => digits[k]!.add(c));
    for (const k of [0, 7, 9, 15, 20, 35]) expect(digits[k]!.size, `position ${k}`).toBe(16);
    expect([...digits[14]!]).toEqual(['4']);
    expect([...digits[19]!].sort()).toEqual(['8', '9', 'a', 'b']);
  });

  it.each([
    ['WebAssembly', true],
    ['JavaScript', false],
  ])('fails if an id is not its random bytes in RFC 9562 layout (version and variant bits set), across batches: %s', (_, useWasm) => {
    // A known byte stream: each refill fills with the next bytes of a counter.
    let counter = 0;
    const fill = (b: Buffer) => {
      for (let i = 0; i < b.length; i++, counter++) b[i] = (counter * 37 + (counter >> 8)) & 0xff;
      return b;
    };
    const ids = new UuidSource(fill, useWasm);
    expect(ids.formattedInWasm).toBe(useWasm);
    const source = Buffer.alloc(16);
    let drawn = 0;
    const reference = () => {
      // The same stream, formatted the straightforward way.
      for (let i = 0; i < 16; i++, drawn++) source[i] = (drawn * 37 + (drawn >> 8)) & 0xff;
      source[6] = (source[6]! & 0x0f) | 0x40;
      source[8] = (source[8]! & 0x3f) | 0x80;
      const h = source.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    };
    for (let i = 0; i < 3 * UUID_BATCH + 5; i++) expect(ids.take()).toBe(reference());
  });

  it('fails if ids are sliced from a string of more than 128 ids (it would outlive two scavenges and be promoted: the heap grew ~36 bytes a request)', () => {
    const ids = new UuidSource();
    for (let i = 0; i < UUID_BATCH + 200; i++) {
      ids.take();
      expect((ids as unknown as { run: string }).run.length).toBeLessThanOrEqual(36 * 128);
    }
  });

  it('two sources do not repeat each other', () => {
    const a = new UuidSource();
    const b = new UuidSource();
    const fromA = new Set(Array.from({ length: 300 }, () => a.take()));
    expect(Array.from({ length: 300 }, () => b.take()).some((id) => fromA.has(id))).toBe(false);
  });
});

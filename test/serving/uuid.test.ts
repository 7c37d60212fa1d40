/** Request ids made in batches (lib/serving/uuid.ts): well-formed v4 UUIDs, all distinct, across batches too. */
import { describe, expect, it } from 'vitest';
import { UuidSource } from '../../lib/serving/uuid';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('UuidSource', () => {
  it('gives version-4 UUIDs, every one distinct, over many batches', () => {
    const ids = new UuidSource();
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = ids.take();
      expect(id).toMatch(V4);
      seen.add(id);
    }
    expect(seen.size).toBe(5000);
  });

  it('draws random bits: every hex digit shows up in every free position', () => {
    const ids = new UuidSource();
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) [...ids.take()].forEach((c, k) => digits[k]!.add(c));
    for (const k of [0, 7, 9, 15, 20, 35]) expect(digits[k]!.size, `position ${k}`).toBe(16);
    expect([...digits[14]!]).toEqual(['4']);
    expect([...digits[19]!].sort()).toEqual(['8', '9', 'a', 'b']);
  });

  it('two sources do not repeat each other', () => {
    const a = new UuidSource();
    const b = new UuidSource();
    const fromA = new Set(Array.from({ length: 300 }, () => a.take()));
    expect(Array.from({ length: 300 }, () => b.take()).some((id) => fromA.has(id))).toBe(false);
  });
});

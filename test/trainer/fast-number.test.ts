/**
 * The byte-level CSV number parser (`fastLine` in lib/trainer/columnar.ts) must give exactly the
 * double `Number()` gives — the trainer's parity with scikit-learn starts there. Mantissas of 16–19
 * digits (what `String(x)` and pandas write) take a double-double path that must fall back to V8's
 * parser whenever its result could be off, hardest near the midpoint between two doubles.
 */
import { describe, expect, it } from 'vitest';
import { fastLine, POW10 } from '../../lib/trainer/columnar';
import { mulberry32 } from '../../lib/trainer/synthetic';

const dest = new Float64Array(1);

/** The strings whose fastLine value differs from Number()'s. */
function mismatches(cells: readonly string[]): string[] {
  const bad: string[] = [];
  for (const cell of cells) {
    const b = Buffer.from(cell, 'latin1');
    const k = fastLine(b, 0, b.length, 44, [dest], 1, 0, POW10);
    if (k !== 1 || !Object.is(dest[0], Number(cell))) bad.push(`${cell}: ${dest[0]} vs ${Number(cell)}`);
  }
  return bad;
}

describe('fastLine numbers', () => {
  const rnd = mulberry32(20261206);

  it('parses shortest round-trip doubles of every scale back to the same double', () => {
    const cells = Array.from({ length: 40_000 }, () => String((rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20)));
    expect(cells.filter((c) => c.replace(/[-.]|e.*$/g, '').replace(/^0+/, '').length >= 16).length).toBeGreaterThan(20_000);
    expect(mismatches(cells)).toEqual([]);
  });

  it('parses random 16–19 digit mantissas with any point and exponent as Number() does', () => {
    const cells: string[] = [];
    for (let i = 0; i < 30_000; i++) {
      const D = 16 + Math.floor(rnd() * 4);
      let digits = String(1 + Math.floor(rnd() * 9));
      for (let k = 1; k < D; k++) digits += String(Math.floor(rnd() * 10));
      const dot = Math.floor(rnd() * (D + 1));
      cells.push(`${digits.slice(0, dot)}.${digits.slice(dot)}`, `-${digits}e${Math.floor(rnd() * 46) - 25}`);
    }
    expect(mismatches(cells)).toEqual([]);
  });

  it('parses numbers just below and above the exact midpoint of two doubles as Number() does', () => {
    const f64 = new Float64Array(1);
    const u64 = new BigUint64Array(f64.buffer);
    const cells: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      f64[0] = (0.5 + rnd()) * 2 ** Math.floor(rnd() * 70 - 35);
      const bits = u64[0]!;
      const m = (bits & ((1n << 52n) - 1n)) | (1n << 52n);
      const shift = Number((bits >> 52n) & 0x7ffn) - 1076; // midpoint = (2m + 1)·2^shift
      const scaled = (2n * m + 1n) * 10n ** 40n;
      const digits = (shift >= 0 ? scaled << BigInt(shift) : scaled >> BigInt(-shift)).toString();
      const significant = digits.replace(/^0+/, '');
      const point = digits.length - 40 - (digits.length - significant.length);
      for (const D of [16, 17, 18, 19]) {
        const cut = BigInt(significant.slice(0, D));
        cells.push(`${cut}e${point - D}`, `${cut + 1n}e${point - D}`);
      }
    }
    expect(mismatches(cells)).toEqual([]);
  });

  it('rounds exact ties with a fractional part to even, as Number() does', () => {
    // Between 2^(52−s) and 2^(53−s) doubles are 2^−s apart: the midpoints end in 5·2^−(s+1), a few
    // decimals, so a 17–19 digit string can be exactly a tie, and the double-double result then sits
    // within rounding error of it. Near ties must be given to V8's parser.
    const cells: string[] = [];
    for (let s = 1; s <= 3; s++) {
      const base = 2n ** BigInt(52 - s);
      const scale = 10n ** BigInt(s + 1);
      for (let i = 0; i < 5_000; i++) {
        const k = BigInt(Math.floor(rnd() * 2 ** 40));
        const odd = BigInt(2 * Math.floor(rnd() * 2 ** s) + 1);
        const tie = ((base + k) * 2n ** BigInt(s + 1) + odd) * scale / 2n ** BigInt(s + 1); // (base + k + odd/2^(s+1))·10^(s+1)
        const t = tie.toString();
        cells.push(`${t.slice(0, -(s + 1))}.${t.slice(-(s + 1))}`, `-${t}e-${s + 1}`);
      }
    }
    expect(mismatches(cells)).toEqual([]);
  });

  it('parses the edges: leading zeros, trailing zeros, integers of 19 digits, ±0', () => {
    const cells = ['0.000000000000000012345678901234567', '1.2345678901234567000', '1234567890123456789', '9999999999999999999',
      '-0', '0.0', '00000001.5', '9007199254740993', '4.9406564584124654e-300', '1.7976931348623157e+22'];
    expect(mismatches(cells)).toEqual([]);
  });
});

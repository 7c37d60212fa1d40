/**
 * The JSON bytes the fast decoders of `fast-path.ts` and the WebAssembly scan of `wasm-scan.ts`
 * compare with, and the fixed parts of the compact bodies both read.
 *
 * @example
 * if (b[i] === Byte.COMMA) i++;
 */

/**
 * The bytes the scanners compare with. A const enum, not module constants: esbuild inlines a
 * const enum's members wherever they are used (in other modules too, when bundling), but leaves
 * top-level constants of a module with imports as variables, which V8 (Node 20) then loads from
 * the module's context at every comparison and cannot fold: about 45 % more instructions per
 * number in the decimal loop.
 */
export const enum Byte {
  QUOTE = 0x22,
  COMMA = 0x2c,
  MINUS = 0x2d,
  DOT = 0x2e,
  ZERO = 0x30,
  NINE = 0x39,
  COLON = 0x3a,
  LBRACKET = 0x5b,
  BACKSLASH = 0x5c,
  RBRACKET = 0x5d,
  LBRACE = 0x7b,
  RBRACE = 0x7d,
  PLUS = 0x2b,
}

/** The compact bodies' fixed parts, as `JSON.stringify` writes them (see `FastDecoder.compactSeldon`). */
export const SELDON_HEAD_TEXT = '{"data":{"ndarray":[[';
export const SELDON_TAIL_TEXT = ']]}}';
export const OIP_TAIL_TEXT = ']}]}';

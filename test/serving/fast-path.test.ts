/**
 * The single-pass decoders (lib/serving/fast-path.ts) against the full path (JSON.parse + the
 * validating decoders): for every body, the fast one answers exactly what the full one would
 * (rows, values bit for bit, meta, id) or declines; it never accepts what the full path refuses.
 * Hand cases for the shapes it must take, then a deterministic fuzz of well-formed, near-miss and
 * mangled bodies. The compact bodies are read three ways (the WebAssembly scan, the JavaScript
 * scan it falls back to, the general scan), and all three must answer alike.
 */
import { describe, expect, it } from 'vitest';
import { FastDecoder, type FastDecoderOptions } from '../../lib/serving/fast-path';
import { compileModel, type ServedModel } from '../../lib/serving/model';
import { decodeOipRequest, type OipRequest } from '../../lib/serving/oip';
import { Float64Scratch } from '../../lib/serving/scratch';
import { decodeSeldonRequest, type SeldonRequest } from '../../lib/serving/seldon';
import { BODY_MAX, compactScan, HEAD_MAX } from '../../lib/serving/wasm-scan';
import { modelJson, TINY, WINE } from './helpers';

const tiny = compileModel(TINY, { name: 'tiny' });
const wine = compileModel(WINE, { name: 'wine-quality', version: '3' });
const REQUEST_PATH = { classifier: 'img:1' };

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

function full<T>(decode: (body: unknown) => T, text: string): Outcome<T> {
  try {
    return { ok: true, value: decode(JSON.parse(text)) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

const bits = (x: Float64Array) => Array.from(x, (v) => (Object.is(v, -0) ? '-0' : String(v)));

/** Compares one body both ways; returns whether the fast decoder took it. */
function sameSeldon(model: ServedModel, text: string, requestPath?: Record<string, string>): boolean {
  const fast = new FastDecoder(model, requestPath, new Float64Scratch()).seldon(Buffer.from(text, 'utf8'));
  if (fast === undefined) return false;
  const slow = full<SeldonRequest>((b) => decodeSeldonRequest(b, model, requestPath), text);
  expect(slow.ok, `the fast path took what the full path refuses: ${text}`).toBe(true);
  if (!slow.ok) return true;
  expect({ ...fast, x: bits(fast.x) }, text).toEqual({ ...slow.value, x: bits(slow.value.x) });
  return true;
}

function sameOip(model: ServedModel, text: string): boolean {
  const decoder = new FastDecoder(model, undefined, new Float64Scratch());
  const b = Buffer.from(text, 'utf8');
  const fast = decoder.oip(b);
  if (fast === undefined) return false;
  const slow = full<OipRequest>((b) => decodeOipRequest(b, model), text);
  expect(slow.ok, `the fast path took what the full path refuses: ${text}`).toBe(true);
  if (!slow.ok) return true;
  expect({ ...fast, x: bits(fast.x) }, text).toEqual({ ...slow.value, x: bits(slow.value.x) });
  // Read again: a decoder keeps a compact body's head, and the WebAssembly scan reads the bodies
  // that start with it (the first one only the JavaScript scans read).
  const again = decoder.oip(b)!;
  expect({ ...again, x: bits(again.x) }, text).toEqual({ ...slow.value, x: bits(slow.value.x) });
  return true;
}

/** Whether `x` is a view on `scratch` (what the JavaScript scans fill) rather than on the WebAssembly scan's memory. */
const onScratch = (scratch: Float64Scratch, x: Float64Array) => x.buffer === scratch.staging(0)!.buffer;

/** The WebAssembly scan, the JavaScript compact scan and the general scan answer alike. */
const both = (model: ServedModel, text: string, requestPath?: Record<string, string>) => {
  const b = Buffer.from(text, 'utf8');
  const answer = (options: FastDecoderOptions) => {
    const d = new FastDecoder(model, requestPath, new Float64Scratch(), options);
    const seldon = d.seldon(b);
    const s = seldon === undefined ? undefined : { ...seldon, x: bits(seldon.x) };
    // Twice: the first compact OIP body's head is read in JavaScript, the second's compared by the scan.
    const oip = () => {
      const o = d.oip(b);
      return o === undefined ? undefined : { ...o, x: bits(o.x) };
    };
    return { seldon: s, oip: [oip(), oip()] };
  };
  const general = answer({ compact: false });
  expect(answer({}), text).toEqual(general);
  expect(answer({ wasm: false }), text).toEqual(general);
};

const ROW = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];

describe('fast Seldon decoder', () => {
  it.each([
    JSON.stringify({ data: { ndarray: [ROW] } }),
    JSON.stringify({ data: { ndarray: [ROW, ROW.map((v) => -v)] } }),
    JSON.stringify({ data: { ndarray: [] } }),
    JSON.stringify({ data: { names: [], ndarray: [ROW] } }),
    JSON.stringify({ data: { names: WINE.features, ndarray: [ROW] } }),
    JSON.stringify({ data: { names: [...WINE.features].reverse(), ndarray: [ROW] } }),
    JSON.stringify({ data: { ndarray: [ROW], names: WINE.features } }),
    JSON.stringify({ meta: {}, data: { ndarray: [ROW] } }),
    JSON.stringify({ data: { ndarray: [ROW] }, meta: { puid: 'abc-123' } }),
    JSON.stringify({ data: { ndarray: [ROW] }, meta: { puid: '' } }),
    ` \n{ "data" :\t{ "ndarray" : [ [ ${ROW.join(' , ')} ] ] } }\r\n`,
    JSON.stringify({ data: { ndarray: [[1e-7, -0, 0.1, 1e21, 123456789012345, 1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, 0.30000000000000004, 1e22, 1e23]] } }),
    '{"data":{"ndarray":[[1E2,1e+2,1e-2,-0.0,0e99,10e-1,100e-2,0.000001,1.5E-10,-3,4.25]]}}',
  ])('takes %s and decodes it as the full path does', (text) => {
    expect(sameSeldon(wine, text)).toBe(true);
    expect(sameSeldon(wine, text, REQUEST_PATH)).toBe(true);
  });

  it.each([
    ['an empty body', ''],
    ['not JSON', '{"data":'],
    ['an array', '[1]'],
    ['a BOM', '\ufeff{"data":{"ndarray":[[1,2]]}}'],
    ['a duplicate key', '{"data":{"ndarray":[[1,2]]},"data":{"ndarray":[[3,4]]}}'],
    ['an escaped key', '{"d\\u0061ta":{"ndarray":[[1,2]]}}'],
    ['another payload', '{"jsonData":{"a":1,"b":2}}'],
    ['a tensor', '{"data":{"tensor":{"shape":[1,2],"values":[1,2]}}}'],
    ['an extra data key', '{"data":{"ndarray":[[1,2]],"x":1}}'],
    ['meta with tags', '{"data":{"ndarray":[[1,2]]},"meta":{"tags":{"a":1}}}'],
    ['a short row', '{"data":{"ndarray":[[1]]}}'],
    ['a long row', '{"data":{"ndarray":[[1,2,3]]}}'],
    ['a string value', '{"data":{"ndarray":[[1,"2"]]}}'],
    ['a leading zero', '{"data":{"ndarray":[[01,2]]}}'],
    ['a bare dot', '{"data":{"ndarray":[[1.,2]]}}'],
    ['an overflow', '{"data":{"ndarray":[[1e999,2]]}}'],
    ['trailing bytes', '{"data":{"ndarray":[[1,2]]}} x'],
    ['a trailing comma', '{"data":{"ndarray":[[1,2],]}}'],
    ['unknown names', '{"data":{"names":["a","c"],"ndarray":[[1,2]]}}'],
    ['repeated names', '{"data":{"names":["a","a"],"ndarray":[[1,2]]}}'],
    ['names after rows, permuted', '{"data":{"ndarray":[[1,2]],"names":["b","a"]}}'],
    ['a non-ASCII puid', '{"data":{"ndarray":[[1,2]]},"meta":{"puid":"é"}}'],
  ])('declines %s', (_, text) => {
    expect(new FastDecoder(tiny, undefined, new Float64Scratch()).seldon(Buffer.from(text, 'utf8'))).toBeUndefined();
  });

  it('declines a batch past the scratch, which the full path takes', () => {
    const text = JSON.stringify({ data: { ndarray: Array.from({ length: 5000 }, () => [1, 2]) } });
    expect(new FastDecoder(tiny, undefined, new Float64Scratch(1024)).seldon(Buffer.from(text))).toBeUndefined();
  });

  it('converts numbers exactly as JSON.parse does (fuzz)', () => {
    const rand = lcg(7);
    const numbers: string[] = [];
    for (let n = 0; n < 4000; n++) numbers.push(numberText(rand));
    let took = 0;
    for (let n = 0; n < numbers.length; n += 2) {
      if (sameSeldon(tiny, `{"data":{"ndarray":[[${numbers[n]},${numbers[n + 1]}]]}}`)) took++;
    }
    // Nearly all are valid JSON numbers in range: the fast path must take those.
    expect(took).toBeGreaterThan(1900);
  });
});

describe('fast OIP decoder', () => {
  const tensor = (t: Record<string, unknown>) => JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 11], datatype: 'FP64', data: ROW, ...t }] });
  it.each([
    tensor({}),
    tensor({ data: [ROW] }),
    tensor({ data: [[ROW.slice(0, 5)], [[ROW.slice(5)]], []] }),
    tensor({ shape: [2, 11], data: [...ROW, ...ROW] }),
    tensor({ shape: [0, 11], data: [] }),
    tensor({ datatype: 'FP32' }),
    tensor({ datatype: 'FP16' }),
    tensor({ datatype: 'INT32', data: ROW.map(Math.round) }),
    tensor({ datatype: 'UINT8', data: ROW.map(Math.round) }),
    tensor({ shape: [1.0, 11] }).replace('[1,11]', '[1.0,11.0]'),
    JSON.stringify({ id: 'req-1', inputs: [{ data: ROW, datatype: 'FP64', shape: [1, 11], name: 'x' }] }),
    JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 11], datatype: 'FP64', data: ROW }], id: '' }),
  ])('takes %s and decodes it as the full path does', (text) => {
    expect(sameOip(wine, text)).toBe(true);
  });

  it.each([
    ['two inputs', JSON.stringify({ inputs: [{ name: 'a', shape: [1], datatype: 'FP64', data: [1] }, { name: 'b', shape: [1], datatype: 'FP64', data: [2] }] })],
    ['a missing datatype', '{"inputs":[{"name":"i","shape":[1,2],"data":[1,2]}]}'],
    ['BYTES', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"BYTES","data":[1,2]}]}'],
    ['a prototype name as datatype', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"toString","data":[1,2]}]}'],
    ['an integer type with a fraction', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"INT8","data":[1.5,2]}]}'],
    ['an out-of-range FP16', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"FP16","data":[70000,2]}]}'],
    ['BOOL', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"BOOL","data":[true,false]}]}'],
    ['too few values', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"FP64","data":[1]}]}'],
    ['too many values', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"FP64","data":[1,2,3]}]}'],
    ['a wrong width', '{"inputs":[{"name":"i","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}'],
    ['a negative shape', '{"inputs":[{"name":"i","shape":[-1,2],"datatype":"FP64","data":[]}]}'],
    ['parameters', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"FP64","data":[1,2],"parameters":{}}]}'],
    ['outputs', '{"inputs":[{"name":"i","shape":[1,2],"datatype":"FP64","data":[1,2]}],"outputs":[{"name":"output-0"}]}'],
    ['a numeric id', '{"id":5,"inputs":[{"name":"i","shape":[1,2],"datatype":"FP64","data":[1,2]}]}'],
    ['an escaped id', '{"id":"a\\"b","inputs":[{"name":"i","shape":[1,2],"datatype":"FP64","data":[1,2]}]}'],
    ['nesting past the rank limit', `{"inputs":[{"name":"i","shape":[1,2],"datatype":"FP64","data":${'['.repeat(40)}1,2${']'.repeat(40)}}]}`],
  ])('declines %s', (_, text) => {
    expect(new FastDecoder(tiny, undefined, new Float64Scratch()).oip(Buffer.from(text, 'utf8'))).toBeUndefined();
  });

  it('leaves a one-feature model to the full path (a lone input named after the feature is a column)', () => {
    const one = compileModel(modelJson(['a'], [2], 1), { name: 'one' });
    const text = '{"inputs":[{"name":"a","shape":[1,1],"datatype":"FP64","data":[1]}]}';
    expect(new FastDecoder(one, undefined, new Float64Scratch()).oip(Buffer.from(text))).toBeUndefined();
  });
});

describe('fast and full paths agree on mangled bodies (deterministic fuzz)', () => {
  const seldonSeeds = [
    JSON.stringify({ data: { ndarray: [[1, 2], [3.5, -4e-3]] } }),
    JSON.stringify({ data: { names: ['b', 'a'], ndarray: [[1, 2]] }, meta: { puid: 'p' } }),
    JSON.stringify({ meta: {}, data: { ndarray: [] } }),
  ];
  const oipSeeds = [
    JSON.stringify({ id: 'i', inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP64', data: [[1, 2], [3, 4]] }] }),
    JSON.stringify({ inputs: [{ datatype: 'INT16', data: [1, -2], name: 'x', shape: [1, 2] }] }),
    JSON.stringify({ inputs: [{ name: 'x', shape: [0, 2], datatype: 'FP32', data: [] }] }),
  ];
  // Tokens a mutation inserts: structure, numbers at the edges, strings, escapes, non-ASCII.
  const tokens = ['{', '}', '[', ']', ',', ':', '"', ' ', '\\', '-', '0', '1e999', '-0', '.5', '01', '"data"', '"ndarray"', '"names"', '"meta"', '"puid"', '"inputs"', '"shape"', '"datatype"', '"FP64"', '"INT8"', '"BOOL"', '"id"', '"a"', '"b"', 'true', 'null', 'é', '\u0000', '\ufeff', '[1,2]', '[[1,2]]', '{}', '9007199254740993', '1.7976931348623159e308'];

  function mangle(rand: () => number, text: string): string {
    let s = text;
    if (rand() < 0.3) {
      // Gentle: another number in place of one, whitespace after a structural byte; mostly still valid.
      let k = 0;
      const pick = Math.floor(rand() * 4);
      s = s.replace(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g, (m) => (k++ === pick ? numberText(rand) : m));
      const at = s.search(/[{}[\],:]/);
      return at < 0 ? s : s.slice(0, at + 1) + ' \n\t\r'.slice(Math.floor(rand() * 4)) + s.slice(at + 1);
    }
    const edits = 1 + Math.floor(rand() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * (s.length + 1));
      const r = rand();
      if (r < 0.3) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 3));
      else if (r < 0.7) s = s.slice(0, at) + tokens[Math.floor(rand() * tokens.length)] + s.slice(at);
      else if (r < 0.85) s = s.slice(0, at);
      else s = s.slice(0, at) + String.fromCharCode(32 + Math.floor(rand() * 95)) + s.slice(at + 1);
    }
    return s;
  }

  it('Seldon: never takes what the full path refuses, and decodes alike what both take', () => {
    const rand = lcg(11);
    let took = 0;
    for (let n = 0; n < 3000; n++) {
      const seed = seldonSeeds[n % seldonSeeds.length]!;
      if (sameSeldon(tiny, n < 30 ? seed : mangle(rand, seed), n % 2 === 0 ? REQUEST_PATH : undefined)) took++;
    }
    expect(took).toBeGreaterThan(100);
  });

  it('OIP: never takes what the full path refuses, and decodes alike what both take', () => {
    const rand = lcg(13);
    let took = 0;
    for (let n = 0; n < 3000; n++) {
      const seed = oipSeeds[n % oipSeeds.length]!;
      if (sameOip(tiny, n < 30 ? seed : mangle(rand, seed))) took++;
    }
    expect(took).toBeGreaterThan(100);
  });
});

describe('compact bodies: the one-pass form and the general scan agree', () => {
  type Compact = { compactSeldon(b: Buffer, x: Float64Array): number; compactOip(b: Buffer, x: Float64Array): number };
  const taken = (model: ServedModel, text: string) => {
    const d = new FastDecoder(model, undefined, new Float64Scratch()) as unknown as Compact;
    const b = Buffer.from(text);
    return { seldon: d.compactSeldon(b, new Float64Array(64)), oip: d.compactOip(b, new Float64Array(64)) };
  };
  const seldonText = (rows: number[][]) => JSON.stringify({ data: { ndarray: rows } });
  const oipText = (rows: number, data: number[], name = 'input-0') =>
    JSON.stringify({ inputs: [{ name, shape: [rows, 11], datatype: 'FP64', data }] });

  it('fails if the compact form does not take what JSON.stringify writes for one or more rows', () => {
    expect(taken(wine, seldonText([ROW]))).toEqual({ seldon: 1, oip: 0 });
    expect(taken(wine, seldonText([ROW, ROW, ROW]))).toEqual({ seldon: 3, oip: 0 });
    expect(taken(wine, oipText(1, ROW))).toEqual({ seldon: 0, oip: 1 });
    expect(taken(wine, oipText(2, [...ROW, ...ROW], 'x y'))).toEqual({ seldon: 0, oip: 2 });
  });

  it.each([
    ['whitespace', ` ${seldonText([ROW])}`],
    ['trailing whitespace', `${seldonText([ROW])}\n`],
    ['no rows', seldonText([])],
    ['names', JSON.stringify({ data: { names: [], ndarray: [ROW] } })],
    ['meta', JSON.stringify({ data: { ndarray: [ROW] }, meta: {} })],
    ['a short row', seldonText([ROW.slice(1)])],
    ['a long row', seldonText([[...ROW, 1]])],
    ['a nested value', seldonText([ROW]).replace('7.4', '[7.4]')],
    ['an OIP id', JSON.stringify({ id: 'a', inputs: [{ name: 'i', shape: [1, 11], datatype: 'FP64', data: ROW }] })],
    ['an OIP zero-row tensor', oipText(0, [])],
    ['OIP nested data', oipText(1, [ROW] as unknown as number[])],
    ['OIP FP32', oipText(1, ROW).replace('FP64', 'FP32')],
    ['an OIP negative shape', oipText(1, ROW).replace('[1,11]', '[-1,11]')],
    ['an OIP fractional shape', oipText(1, ROW).replace('[1,11]', '[1.5,11]')],
    ['an OIP wrong width', oipText(1, ROW).replace('[1,11]', '[1,10]')],
    ['an OIP escaped name', oipText(1, ROW, 'a"b')],
    ['an OIP extra key', oipText(1, ROW).replace(']}]}', '],"parameters":{}}]}')],
  ])('leaves %s to the general scan, which answers the same', (_, text) => {
    const t = taken(wine, text);
    expect(t).toEqual({ seldon: 0, oip: 0 });
    both(wine, text);
  });

  it.each(['0', '-0', '0.0', '-0.0', '1.', '-', '01', '-01', '.5', '1e5', '1E-5', '2.5e+3', '123456789012345', '1234567890123456', '0.00000000000001', '0.1234567890123456', '9007199254740993', '1.7976931348623157e308', '5e-324', '0.30000000000000004', '-9.4'])(
    'fails if the compact form reads %s other than the full path does',
    (v) => {
      const text = `{"data":{"ndarray":[[${v},${v}]]}}`;
      const valid = (() => {
        try {
          JSON.parse(text);
          return true;
        } catch {
          return false;
        }
      })();
      expect(sameSeldon(tiny, text)).toBe(valid);
      both(tiny, text);
      const oip = `{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP64","data":[${v},${v}]}]}`;
      expect(sameOip(tiny, oip)).toBe(valid);
      both(tiny, oip);
    },
  );

  /** The seeds of the compact-body fuzz, then 4,000 mangled forms of them. */
  const mangledBodies = (): string[] => {
    const rand = lcg(17);
    const seeds = [
      seldonText([[1, 2]]),
      seldonText([[1, 2], [3.5, -4e-3], [1e21, 5e-324]]),
      JSON.stringify({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP64', data: [1, 2] }] }),
      JSON.stringify({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP64', data: [1, -0, 0.1, 123456789012345] }] }).replace('123456789012345', '9007199254740993'),
    ];
    const tokens = ['[', ']', ',', '{', '}', '"', ' ', '-', '0', '.5', '1e999', '01', '[1,2]', 'é', '\\'];
    const bodies: string[] = [];
    for (let n = 0; n < 4000; n++) {
      let s = seeds[n % seeds.length]!;
      if (n >= seeds.length) {
        const at = Math.floor(rand() * (s.length + 1));
        const r = rand();
        if (r < 0.3) s = s.slice(0, at) + s.slice(at + 1);
        else if (r < 0.6) s = s.slice(0, at) + tokens[Math.floor(rand() * tokens.length)] + s.slice(at);
        else if (r < 0.75) s = s.slice(0, at);
        else s = s.replace(/-?\d+(\.\d+)?([eE][+-]?\d+)?/, numberText(rand));
      }
      bodies.push(s);
    }
    return bodies;
  };

  it('fails if the two differ on compact bodies and their mangled forms (deterministic fuzz)', () => {
    mangledBodies().forEach((s, n) => both(tiny, s, n % 2 === 0 ? REQUEST_PATH : undefined));
  });

  it('fails if a decoder reads a body other than a fresh one would after the bodies before it (the OIP head it keeps)', () => {
    const oip = (name: string, rows: number, data: number[]) =>
      JSON.stringify({ inputs: [{ name, shape: [rows, 2], datatype: 'FP64', data }] });
    const bodies = [
      oip('x', 1, [1, 2]),
      oip('x', 1, [3, 4]),
      // The same head, then a different tail: the values, an id after them, a second row.
      oip('x', 1, [3, 4]).replace(']}]}', ']}],"id":"a"}'),
      oip('x', 1, [3, 4, 5, 6]),
      oip('x', 2, [3, 4, 5, 6]),
      // The head of a two-row body, one row's values: the shape's count, not the last one's, holds.
      oip('x', 2, [3, 4]),
      oip('x', 1, [7, 8]),
      oip('x', 1, [7, 8, 9, 10]),
      // A head of the same length: another name, another row count.
      oip('y', 1, [1, 2]),
      oip('y', 3, [1, 2, 3, 4, 5, 6]),
      oip('y', 1, [1, 2]).replace('FP64', 'FP32'),
      ...mangledBodies(),
    ];
    const kept = new FastDecoder(tiny, undefined, new Float64Scratch());
    for (const text of bodies) {
      const b = Buffer.from(text, 'utf8');
      const fresh = new FastDecoder(tiny, undefined, new Float64Scratch(), { compact: false }).oip(b);
      const read = kept.oip(b);
      expect(read && { ...read, x: bits(read.x) }, text).toEqual(fresh && { ...fresh, x: bits(fresh.x) });
    }
  });
});

describe('the WebAssembly scan of compact bodies', () => {
  const seldonText = (rows: number[][]) => JSON.stringify({ data: { ndarray: rows } });
  const oipText = (name: string, rows: number, data: number[] | string) =>
    `{"inputs":[{"name":"${name}","shape":[${rows},2],"datatype":"FP64","data":[${data}]}]}`;
  const oipHead = (name: string) => oipText(name, 1, '').slice(0, -']}]}'.length);
  /** Who read the body, if any one did: the scan (`wasm`) or a JavaScript scan (`js`), and its values. */
  const reader = (read: (d: FastDecoder, b: Buffer) => { x: Float64Array } | undefined, options: FastDecoderOptions = {}) => {
    const scratch = new Float64Scratch();
    const d = new FastDecoder(tiny, undefined, scratch, options);
    return (text: string) => {
      const r = read(d, Buffer.from(text, 'utf8'));
      return r === undefined ? undefined : { by: onScratch(scratch, r.x) ? 'js' : 'wasm', x: bits(r.x) };
    };
  };
  const seldonReader = (options?: FastDecoderOptions) => reader((d, b) => d.seldon(b), options);
  const oipReader = (options?: FastDecoderOptions) => reader((d, b) => d.oip(b), options);
  /** A compact Seldon body of the tiny model of exactly `length` bytes: rows of `[1,2]`, the last value padded with digits. */
  const seldonOfLength = (length: number) => {
    const rows = Math.floor((length - 22) / 6);
    const text = seldonText(Array.from({ length: rows }, () => [1, 2]));
    return `${text.slice(0, -4)}${'5'.repeat(length - text.length)}]]}}`;
  };

  it('fails if the scan is not there to test, or the decoders do not use it', () => {
    expect(compactScan()).toBeDefined();
    expect(seldonReader()(seldonText([[1, 2]]))?.by).toBe('wasm');
    expect(seldonReader({ wasm: false })(seldonText([[1, 2]]))?.by).toBe('js');
    const oip = oipReader();
    expect([oip(oipText('x', 1, '1,2'))?.by, oip(oipText('x', 1, '3,4'))?.by]).toEqual(['js', 'wasm']);
    const js = oipReader({ wasm: false });
    expect([js(oipText('x', 1, '1,2'))?.by, js(oipText('x', 1, '3,4'))?.by]).toEqual(['js', 'js']);
  });

  it.each([
    // 15 digits in all, the most the scan takes, and 16, which it leaves to the JavaScript scan.
    ['123456789012345', 'wasm'],
    ['-123456789012345', 'wasm'],
    ['1234567890123456', 'js'],
    ['0.12345678901234', 'wasm'],
    ['0.123456789012345', 'js'],
    ['12345678.9012345', 'wasm'],
    ['12345678.90123456', 'js'],
    ['-99999999.9999999', 'wasm'],
    ['999999999999999.9', 'js'],
    ['0.00000000000001', 'wasm'],
    ['0.000000000000001', 'js'],
    ['0.30000000000000004', 'js'],
    // Zeros and signs.
    ['0', 'wasm'],
    ['-0', 'wasm'],
    ['-0.0', 'wasm'],
    ['-0.000', 'wasm'],
    ['0.5', 'wasm'],
    ['-0.5', 'wasm'],
    // Exponents go to the JavaScript scan.
    ['1e5', 'js'],
    ['-2.5E-3', 'js'],
    ['0e0', 'js'],
  ])('fails if %s is not read by the %s scan to the bits JSON.parse gives', (v, by) => {
    const text = seldonText([[0, 0]]).replace('0,0', `${v},${v}`);
    const expected = bits(Float64Array.from(JSON.parse(text).data.ndarray.flat()));
    expect(seldonReader()(text)).toEqual({ by, x: expected });
    const oip = oipReader();
    oip(oipText('x', 1, '1,2'));
    expect(oip(oipText('x', 1, `${v},${v}`))).toEqual({ by, x: expected });
    both(tiny, text);
  });

  it.each(['00', '-00', '01', '-01', '00.5', '1.', '-', '--1', '-.5', '+1', '1.5.5', '0x1', '1..2', '.5'])(
    'fails if any scan takes %s, which is not JSON',
    (v) => {
      expect(seldonReader()(seldonText([[1, 2]]).replace('1,2', `${v},2`))).toBeUndefined();
      const oip = oipReader();
      oip(oipText('x', 1, '1,2'));
      expect(oip(oipText('x', 1, `${v},2`))).toBeUndefined();
      both(tiny, seldonText([[1, 2]]).replace('1,2', `${v},2`));
    },
  );

  it('fails if a body of exactly BODY_MAX bytes is not the scan\'s, or one byte more is not left to the JavaScript scan', () => {
    for (const [length, by] of [
      [BODY_MAX - 1, 'wasm'],
      [BODY_MAX, 'wasm'],
      [BODY_MAX + 1, 'js'],
    ] as const) {
      const text = seldonOfLength(length);
      expect(text.length).toBe(length);
      const read = seldonReader()(text);
      expect(read?.by).toBe(by);
      expect(read?.x).toEqual(bits(Float64Array.from(JSON.parse(text).data.ndarray.flat())));
      both(tiny, text);
      // The same values as one OIP tensor, padded to the length.
      const values = JSON.parse(text).data.ndarray.flat() as number[];
      const oipBody = oipText('x', values.length / 2, values.join(','));
      const padded = oipBody.replace('"x"', `"x${'y'.repeat(length - oipBody.length)}"`);
      expect(padded.length).toBe(length);
      const oip = oipReader();
      expect([oip(padded)?.by, oip(padded)?.by]).toEqual(length - oipBody.length + oipHead('x').length > HEAD_MAX ? ['js', 'js'] : ['js', by]);
    }
  });

  it('fails if an OIP head of HEAD_MAX bytes is not compared by the scan, or one byte more is not left to JavaScript', () => {
    for (const [extra, by] of [
      [0, 'wasm'],
      [1, 'js'],
    ] as const) {
      const name = 'n'.repeat(HEAD_MAX - oipHead('').length + extra);
      expect(oipHead(name).length).toBe(HEAD_MAX + extra);
      const oip = oipReader();
      expect(oip(oipText(name, 1, '1.5,-2'))).toEqual({ by: 'js', x: ['1.5', '-2'] });
      expect(oip(oipText(name, 1, '3,4.25'))).toEqual({ by, x: ['3', '4.25'] });
      both(tiny, oipText(name, 1, '3,4.25'));
    }
  });

  it('fails if the scan takes rows split other than the model\'s width, or misses a batch\'s rows', () => {
    const rand = lcg(23);
    const value = () => (Math.round((rand() - 0.5) * 1e6) / 10 ** Math.floor(rand() * 8)).toString();
    const many = Array.from({ length: 700 }, () => [value(), value()]);
    const manyText = `{"data":{"ndarray":[${many.map((r) => `[${r}]`).join(',')}]}}`;
    const read = seldonReader()(manyText);
    expect(read?.by).toBe('wasm');
    expect(read?.x).toEqual(bits(Float64Array.from(many.flat().map(Number))));
    both(tiny, manyText);
    const oip = oipReader();
    const flat = many.flat().join(',');
    oip(oipText('x', 700, flat));
    expect(oip(oipText('x', 700, flat))).toEqual(read);
    for (const text of [
      '{"data":{"ndarray":[[1,2,3],[4]]}}',
      '{"data":{"ndarray":[[1],[2,3,4]]}}',
      '{"data":{"ndarray":[[1,2],[3]]}}',
      '{"data":{"ndarray":[[1,2],[3,4,5]]}}',
      '{"data":{"ndarray":[[1,2][3,4]]}}',
      '{"data":{"ndarray":[[1,2],3,4]}}',
      '{"data":{"ndarray":[[1,2],[3,4]}}',
    ]) {
      expect(seldonReader()(text), text).toBeUndefined();
      both(tiny, text);
    }
    // An OIP tensor whose data is split into rows, or holds other than the shape's count: not the scan's.
    for (const data of ['[1,2],[3,4]', '1,2,3', '1', '1,2,3,4,5']) {
      const oip2 = oipReader();
      oip2(oipText('x', 2, '1,2,3,4'));
      const text = oipText('x', 2, data);
      expect(oip2(text)?.by, text).not.toBe('wasm');
      both(tiny, text);
    }
  });

  it('fails if the scan reads past the body (into what a longer body left in its memory) or takes a body that goes on after the tail', () => {
    const seldon = seldonReader();
    const oip = oipReader();
    const long = seldonText([[1, 2], [3.5, 4], [5, 67]]);
    const longOip = oipText('x', 2, '1,2,3,45');
    // Each cut is not JSON; each is read right after the whole body, whose bytes follow it in the scan's memory.
    for (let k = 0; k < long.length; k++) {
      expect(seldon(long)?.by).toBe('wasm');
      expect(seldon(long.slice(0, k)), long.slice(0, k)).toBeUndefined();
    }
    oip(longOip);
    for (let k = 0; k < longOip.length; k++) {
      expect(oip(longOip)?.by).toBe('wasm');
      expect(oip(longOip.slice(0, k)), longOip.slice(0, k)).toBeUndefined();
    }
    // And a byte after the tail (whitespace, which the general scan takes, or not JSON): the tail must end the body.
    for (const extra of [' ', '\n', '}', ']', ',', '0']) {
      expect(seldon(long + extra)?.by, long + extra).not.toBe('wasm');
      expect(oip(longOip + extra)?.by, longOip + extra).not.toBe('wasm');
      both(tiny, long + extra);
      both(tiny, longOip + extra);
    }
  });
});

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

/** A JSON number's text: shortest forms, fixed and exponent forms, long mantissas, edge exponents. */
function numberText(rand: () => number): string {
  const r = rand();
  const sign = rand() < 0.3 ? '-' : '';
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 10)).join('');
  if (r < 0.25) return String((rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20));
  if (r < 0.4) return (rand() * 1000).toFixed(Math.floor(rand() * 20));
  if (r < 0.55) return sign + (rand() * 10).toExponential(Math.floor(rand() * 20));
  if (r < 0.7) return `${sign}${1 + Math.floor(rand() * 9)}${digits(Math.floor(rand() * 25))}`;
  if (r < 0.85) return `${sign}0.${digits(Math.floor(rand() * 30))}${1 + Math.floor(rand() * 9)}`;
  const e = Math.floor(rand() * 700 - 350);
  return `${sign}${1 + Math.floor(rand() * 9)}.${digits(Math.floor(rand() * 18))}${rand() < 0.5 ? 'e' : 'E'}${e < 0 || rand() < 0.5 ? '' : '+'}${e}`;
}

/**
 * A small reader for the tar archives SageMaker writes (`model.tar.gz`): ustar and GNU headers,
 * PAX extended headers (`path=`) and GNU long names (`L`), regular files only. Enough to find
 * `model.json` without a dependency; not a general extractor (nothing is written to disk).
 */
import { gunzipSync } from 'node:zlib';

/** A regular file in an archive. */
export interface TarFile {
  /** The path as archived, without a leading `./`. */
  readonly name: string;
  readonly data: Buffer;
}

/** Thrown for an archive that is not a readable tar. */
export class TarError extends Error {
  override readonly name = 'TarError';
}

const BLOCK = 512;

function text(block: Buffer, at: number, len: number): string {
  const end = block.indexOf(0, at);
  return block.toString('utf8', at, end === -1 || end > at + len ? at + len : end);
}

function octal(block: Buffer, at: number, len: number, what: string): number {
  // GNU base-256: high bit of the first byte set, big-endian binary in the rest.
  if (block[at]! & 0x80) {
    let n = block[at]! & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + block[at + i]!;
    return n;
  }
  const s = text(block, at, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`bad ${what} field ${JSON.stringify(s)} in tar header`);
  return Number.parseInt(s, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === octal(block, 148, 8, 'checksum');
}

function paxPath(data: Buffer): string | undefined {
  // Records: "<len> <key>=<value>\n", len counting the whole record in bytes.
  let at = 0;
  let path: string | undefined;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const len = Number.parseInt(data.toString('utf8', at, space), 10);
    if (!(len > 0)) break;
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    at += len;
  }
  return path;
}

/**
 * Lists the regular files of an uncompressed tar archive.
 *
 * @example
 * for (const f of tarFiles(tarBuffer)) console.log(f.name, f.data.length);
 */
export function* tarFiles(tar: Buffer): Generator<TarFile> {
  let at = 0;
  let longName: string | undefined;
  while (at + BLOCK <= tar.length) {
    const header = tar.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) return; // end-of-archive marker
    if (!checksumOk(header)) throw new TarError(`bad tar header checksum at offset ${at}`);
    const size = octal(header, 124, 12, 'size');
    const type = String.fromCharCode(header[156]! || 0x30);
    const dataStart = at + BLOCK;
    if (dataStart + size > tar.length) throw new TarError('tar archive is truncated');
    const data = tar.subarray(dataStart, dataStart + size);
    at = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = text(data, 0, data.length);
      continue;
    }
    let name = longName;
    longName = undefined;
    if (name === undefined) {
      name = text(header, 0, 100);
      const magic = header.toString('latin1', 257, 262);
      const prefix = magic === 'ustar' ? text(header, 345, 155) : '';
      if (prefix !== '') name = `${prefix}/${name}`;
    }
    // '0' and NUL are regular files; directories, links, global PAX headers and the rest are skipped.
    if (type === '0' || type === '7') yield { name: name.replace(/^(\.\/)+/, ''), data };
  }
}

/**
 * Reads one file from a gzip'd tar archive; `undefined` when the archive does not hold it.
 *
 * @example
 * const json = readFileFromTarGz(await readFile('model.tar.gz'), 'model.json');
 */
export function readFileFromTarGz(tgz: Buffer, name: string): Buffer | undefined {
  let tar: Buffer;
  try {
    tar = gunzipSync(tgz);
  } catch (err) {
    throw new TarError(`not a gzip archive: ${(err as Error).message}`);
  }
  for (const f of tarFiles(tar)) if (f.name === name) return f.data;
  return undefined;
}

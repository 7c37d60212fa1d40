/**
 * `model.tar.gz`: the archive SageMaker makes of `/opt/ml/model` when a training job ends, and what
 * the pipeline's evaluate step and the model server read back.
 *
 * The format is a gzip'd POSIX ustar archive whose entries are paths relative to the model
 * directory (`model.json`, not `./model.json` or `/opt/ml/model/model.json`), as SageMaker writes
 * it. Paths that do not fit ustar's 100 + 155 byte name fields get a PAX `path` record, which every
 * tar since 2001 reads. Reading accepts what common tars write (ustar, PAX and GNU long names, a
 * leading `./`) and refuses anything that could write outside the destination: absolute paths,
 * `..` segments, links and device files.
 *
 * @example
 * const archive = await packModelDir('/opt/ml/model');
 * const model = readModelFromArchive(archive); // validated LinearModel
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type LinearModel, MODEL_FILE, ModelFormatError, parseModel } from './format';

/** Thrown for an archive that is not a readable tar.gz or holds an entry that may not be unpacked. */
export class ModelArchiveError extends Error {
  override readonly name = 'ModelArchiveError';
}

/** One entry of an archive as read back. */
export interface ArchiveEntry {
  /** The `/`-separated path relative to the archive root, without a leading `./`. */
  readonly path: string;
  readonly type: 'file' | 'directory';
  /** Permission bits. */
  readonly mode: number;
  readonly mtime: Date;
  /** The file's bytes (empty for directories). */
  readonly data: Buffer;
}

const BLOCK = 512;
/** Larger archives are refused when read: a model directory is kilobytes, and gunzip runs in memory. */
const MAX_UNPACKED_BYTES = 1024 ** 3;

/**
 * Packs every file and directory under `dir` into a tar.gz, entries relative to `dir` in path order
 * (so the same tree gives the same entries). Symbolic links and other special files are refused,
 * as they cannot be restored portably. An empty directory gives a valid, empty archive.
 *
 * @example
 * await store.put(bucket, `${prefix}/output/model.tar.gz`, await packModelDir(join(jobDir, 'model')));
 */
export async function packModelDir(dir: string): Promise<Buffer> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new ModelArchiveError(`cannot pack ${dir}: it is not a directory`);
  const blocks: Buffer[] = [];
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    for (const entry of entries) {
      const full = join(current, entry.name);
      const path = relative(dir, full).split(sep).join('/');
      const stats = await stat(full);
      if (entry.isDirectory()) {
        blocks.push(...headerBlocks(`${path}/`, '5', stats.mode & 0o7777, 0, stats.mtime));
        await walk(full);
      } else if (entry.isFile()) {
        const data = await readFile(full);
        blocks.push(...headerBlocks(path, '0', stats.mode & 0o7777, data.length, stats.mtime), data);
        const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
        if (pad > 0) blocks.push(Buffer.alloc(pad));
      } else {
        throw new ModelArchiveError(
          `cannot pack ${full}: only regular files and directories can go into a model archive`,
        );
      }
    }
  };
  await walk(dir);
  blocks.push(Buffer.alloc(BLOCK * 2)); // end-of-archive marker
  return gzipSync(Buffer.concat(blocks));
}

/**
 * Reads every entry of a tar.gz, checking each header's checksum and each path.
 *
 * @example
 * listArchive(await readFile('model.tar.gz')).map((e) => e.path); // ['model.json']
 */
export function listArchive(archive: Uint8Array): ArchiveEntry[] {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (err) {
    throw new ModelArchiveError(`not a gzip archive: ${(err as Error).message}`);
  }
  const entries: ArchiveEntry[] = [];
  let pendingPath: string | undefined;
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end of archive
    verifyChecksum(header, offset);
    const size = readOctal(header, 124, 12, 'size', offset);
    const type = String.fromCharCode(header[156]!);
    const dataStart = offset + BLOCK;
    if (dataStart + size > tar.length) {
      throw new ModelArchiveError(`truncated archive: the entry at byte ${offset} runs past the end`);
    }
    const data = tar.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'x') {
      pendingPath = paxPath(data) ?? pendingPath;
      continue;
    }
    if (type === 'L') {
      pendingPath = data.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (type === 'g') continue; // global PAX header: nothing a model archive needs
    const name = pendingPath ?? ustarName(header);
    pendingPath = undefined;
    if (type !== '0' && type !== '\0' && type !== '5') {
      const kind = { '1': 'a hard link', '2': 'a symbolic link' }[type] ?? `a special file (type "${type}")`;
      throw new ModelArchiveError(
        `entry "${name}" is ${kind}; model archives may hold only files and folders`,
      );
    }
    const path = safeEntryPath(name);
    if (path === '') continue; // the root itself (`./`)
    entries.push({
      path,
      type: type === '5' ? 'directory' : 'file',
      mode: readOctal(header, 100, 8, 'mode', offset),
      mtime: new Date(readOctal(header, 136, 12, 'mtime', offset) * 1000),
      data: type === '5' ? Buffer.alloc(0) : Buffer.from(data),
    });
  }
  return entries;
}

/**
 * Unpacks a tar.gz into `destDir` (created if needed) and returns the files written, relative to
 * it. Every path is checked before anything is written, so a hostile archive writes nothing.
 *
 * @example
 * await unpackModelArchive(await store.getBytes(bucket, key), '/tmp/model'); // ['model.json']
 */
export async function unpackModelArchive(archive: Uint8Array, destDir: string): Promise<string[]> {
  const root = resolve(destDir);
  const entries = listArchive(archive);
  for (const entry of entries) {
    const target = resolve(root, entry.path);
    // Belt and braces: safeEntryPath already refused every way out.
    if (!target.startsWith(root + sep)) {
      throw new ModelArchiveError(`entry "${entry.path}" would be written outside ${root}`);
    }
  }
  await mkdir(root, { recursive: true });
  const written: string[] = [];
  for (const entry of entries) {
    const target = resolve(root, entry.path);
    if (entry.type === 'directory') {
      await mkdir(target, { recursive: true });
      continue;
    }
    await mkdir(resolve(target, '..'), { recursive: true });
    await writeFile(target, entry.data, { mode: entry.mode & 0o777 || 0o644 });
    written.push(entry.path);
  }
  return written;
}

/**
 * Reads and validates the model in a `model.tar.gz` without touching the disk.
 *
 * @example
 * const model = readModelFromArchive(await store.getBytes(bucket, 'jobs/j1/output/model.tar.gz'));
 * model.features.length; // 11
 */
export function readModelFromArchive(archive: Uint8Array, where = 'model.tar.gz'): LinearModel {
  const entries = listArchive(archive);
  const entry = entries.find((e) => e.type === 'file' && e.path === MODEL_FILE);
  if (!entry) {
    const names = entries.map((e) => e.path);
    throw new ModelFormatError(
      `${where} must hold ${MODEL_FILE} at its root, but ${names.length ? `it holds ${names.join(', ')}` : 'it is empty'}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(entry.data.toString('utf8'));
  } catch (err) {
    throw new ModelFormatError(`${where}: ${MODEL_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  return parseModel(json, `${where}: ${MODEL_FILE}`);
}

// ---------------------------------------------------------------------------------------------
// ustar

/** The header block(s) of one entry: a PAX `path` record first when the name does not fit ustar. */
function headerBlocks(path: string, type: '0' | '5', mode: number, size: number, mtime: Date): Buffer[] {
  const seconds = Math.max(0, Math.floor(mtime.getTime() / 1000));
  const split = splitUstarName(path);
  if (split) return [ustarHeader(split.name, split.prefix, type, mode, size, seconds)];
  const record = paxRecord('path', path);
  const pax = ustarHeader('PaxHeader', '', 'x', 0o644, record.length, seconds);
  const padded = Buffer.alloc(Math.ceil(record.length / BLOCK) * BLOCK);
  record.copy(padded);
  const short = Buffer.from(path)
    .subarray(0, 99)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
  return [pax, padded, ustarHeader(short, '', type, mode, size, seconds)];
}

/** Splits a path into ustar's `prefix` (≤ 155 bytes) and `name` (≤ 100 bytes) at a `/`, if it fits. */
function splitUstarName(path: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  const body = path.endsWith('/') ? path.slice(0, -1) : path;
  for (let i = body.indexOf('/'); i >= 0; i = body.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { name, prefix };
  }
  return undefined;
}

function ustarHeader(
  name: string,
  prefix: string,
  type: '0' | '5' | 'x',
  mode: number,
  size: number,
  mtime: number,
): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h.write(type, 156, 1, 'latin1');
  h.write('ustar\u000000', 257, 8, 'latin1');
  h.write(prefix, 345, 155, 'utf8');
  const sum = h.reduce((a, b) => a + b, 0);
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

function writeOctal(h: Buffer, at: number, width: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length > width - 1) {
    throw new ModelArchiveError(`a value of ${value} does not fit a ${width}-byte tar header field`);
  }
  h.write(`${digits.padStart(width - 1, '0')}\0`, at, width, 'latin1');
}

function readOctal(h: Buffer, at: number, width: number, field: string, offset: number): number {
  const text = h
    .toString('latin1', at, at + width)
    .replace(/[\0 ]+$/g, '')
    .replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new ModelArchiveError(`corrupt tar header at byte ${offset}: ${field} "${text}" is not octal`);
  }
  return Number.parseInt(text, 8);
}

function verifyChecksum(h: Buffer, offset: number): void {
  const stored = readOctal(h, 148, 8, 'checksum', offset);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  if (sum !== stored) {
    throw new ModelArchiveError(
      `corrupt tar header at byte ${offset}: checksum mismatch (not a tar archive?)`,
    );
  }
}

function ustarName(h: Buffer): string {
  const field = (at: number, width: number) => {
    const raw = h.subarray(at, at + width);
    const end = raw.indexOf(0);
    return raw.toString('utf8', 0, end < 0 ? width : end);
  };
  const name = field(0, 100);
  const isUstar = h.toString('latin1', 257, 262) === 'ustar';
  const prefix = isUstar ? field(345, 155) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** A PAX record `"<len> key=value\n"`, where `<len>` counts its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return Buffer.from(`${length}${body}`);
}

function paxPath(data: Buffer): string | undefined {
  let path: string | undefined;
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number.parseInt(data.toString('latin1', at, space), 10);
    if (!Number.isInteger(length) || length <= 0) break;
    const record = data.toString('utf8', space + 1, at + length - 1); // without the trailing \n
    const eq = record.indexOf('=');
    if (eq > 0 && record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    at += length;
  }
  return path;
}

/** The entry's path without `./` or a trailing `/`; refuses absolute paths and `..` segments. */
function safeEntryPath(name: string): string {
  if (name.includes('\0')) throw new ModelArchiveError(`entry "${name}" has a NUL in its name`);
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name) || name.startsWith('\\')) {
    throw new ModelArchiveError(`entry "${name}" has an absolute path; archive entries must be relative`);
  }
  const segments = name.split(/[\\/]/).filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    throw new ModelArchiveError(`entry "${name}" climbs out of the archive root with ".."`);
  }
  return segments.join('/');
}

/**
 * model.tar.gz: pack a model directory, read it back, interoperate with system tar, and refuse
 * entries that would land outside the destination.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  listArchive,
  ModelArchiveError,
  packModelDir,
  readModelFromArchive,
  unpackModelArchive,
} from '../../../lib/model/archive';
import { runTrainingJob } from '../../../lib/trainer/main';
import { WINE_CSV } from './helpers';

const temp = () => mkdtemp(join(tmpdir(), 'mlops-archive-'));

const hasTar = (() => {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A raw ustar header for hostile-entry tests (what another tool might write). */
function rawEntry(name: string, type: string, data = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 8, 'latin1');
  h.write('0000000\0', 108, 8, 'latin1');
  h.write('0000000\0', 116, 8, 'latin1');
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  h.write('00000000000\0', 136, 12, 'latin1');
  h.fill(0x20, 148, 156);
  h.write(type, 156, 1, 'latin1');
  h.write('ustar\u000000', 257, 8, 'latin1');
  const sum = h.reduce((a, b) => a + b, 0);
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}
const tarGz = (...entries: Buffer[]) => gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));

describe('model archive', () => {
  it('round-trips a trained model directory: entries relative to it, model valid', async () => {
    // prepare: a real model from the trainer, plus a nested file
    const dir = await temp();
    const modelDir = join(dir, 'model');
    const result = await runTrainingJob({
      env: { SM_CHANNEL_TRAIN: WINE_CSV, SM_MODEL_DIR: modelDir, SM_HPS: '{"target":"quality"}' },
      overrides: { outputDir: null },
      out: () => undefined,
      err: () => undefined,
    });
    expect(result.ok).toBe(true);
    await mkdir(join(modelDir, 'extra', 'deeper'), { recursive: true });
    await writeFile(join(modelDir, 'extra', 'deeper', 'notes.txt'), 'hello');
    // act
    const archive = await packModelDir(modelDir);
    // assess
    expect(archive.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(listArchive(archive).map((e) => `${e.type}:${e.path}`)).toEqual([
      'directory:extra',
      'directory:extra/deeper',
      'file:extra/deeper/notes.txt',
      'file:model.json',
    ]);
    const model = readModelFromArchive(archive);
    expect(model.target).toBe('quality');
    expect(model.features).toHaveLength(11);
    const out = join(dir, 'out');
    expect((await unpackModelArchive(archive, out)).sort()).toEqual(['extra/deeper/notes.txt', 'model.json']);
    expect(await readFile(join(out, 'model.json'), 'utf8')).toBe(
      await readFile(join(modelDir, 'model.json'), 'utf8'),
    );
    expect(await readFile(join(out, 'extra', 'deeper', 'notes.txt'), 'utf8')).toBe('hello');
  });

  it('packs paths longer than ustar holds with a PAX record, and reads them back', async () => {
    const dir = await temp();
    const longDir = 'd'.repeat(120);
    const longName = `${'f'.repeat(150)}.json`;
    await mkdir(join(dir, longDir), { recursive: true });
    await writeFile(join(dir, longDir, longName), '{}');
    const entries = listArchive(await packModelDir(dir));
    expect(entries.map((e) => e.path)).toEqual([longDir, `${longDir}/${longName}`]);
    expect(entries[1]!.data.toString()).toBe('{}');
  });

  it.skipIf(!hasTar)('writes archives system tar lists, and reads archives system tar wrote', async () => {
    const dir = await temp();
    const src = join(dir, 'src');
    const deep = `${'a'.repeat(90)}/${'b'.repeat(90)}/${'c'.repeat(90)}`;
    await mkdir(join(src, deep), { recursive: true });
    await writeFile(join(src, deep, 'model.json'), '{"x":1}');
    await writeFile(join(src, 'top.txt'), 'top');
    // ours → tar
    await writeFile(join(dir, 'ours.tar.gz'), await packModelDir(src));
    const listed = execFileSync('tar', ['-tzf', join(dir, 'ours.tar.gz')], { encoding: 'utf8' });
    expect(listed.split('\n').filter(Boolean)).toContain(`${deep}/model.json`);
    expect(listed.split('\n').filter(Boolean)).toContain('top.txt');
    // tar (as SageMaker runs it: -C <model dir> .) → ours
    execFileSync('tar', ['-czf', join(dir, 'theirs.tar.gz'), '-C', src, '.']);
    const entries = listArchive(await readFile(join(dir, 'theirs.tar.gz')));
    const files = entries.filter((e) => e.type === 'file').map((e) => e.path);
    expect(files.sort()).toEqual([`${deep}/model.json`, 'top.txt']);
  });

  it('fails if an entry climbs out with "..", before writing anything', async () => {
    const dest = join(await temp(), 'dest');
    const archive = tarGz(
      rawEntry('ok.txt', '0', Buffer.from('fine')),
      rawEntry('../evil.txt', '0', Buffer.from('x')),
    );
    await expect(unpackModelArchive(archive, dest)).rejects.toThrow(
      /entry "\.\.\/evil\.txt" climbs out of the archive root/,
    );
    await expect(readdir(dest)).rejects.toThrow(/ENOENT/);
  });

  it('fails if an entry has an absolute path', () => {
    expect(() => listArchive(tarGz(rawEntry('/etc/passwd', '0', Buffer.from('x'))))).toThrow(
      /entry "\/etc\/passwd" has an absolute path/,
    );
  });

  it('fails if an entry is a symbolic link', () => {
    expect(() => listArchive(tarGz(rawEntry('model.json', '2')))).toThrow(/is a symbolic link/);
  });

  it('fails if the bytes are not a gzip archive, or the tar inside is corrupt', () => {
    expect(() => listArchive(Buffer.from('not gzip'))).toThrow(ModelArchiveError);
    const corrupt = rawEntry('model.json', '0', Buffer.from('{}'));
    corrupt[0] = 'X'.charCodeAt(0); // name changed after the checksum was computed
    expect(() => listArchive(tarGz(corrupt))).toThrow(/checksum mismatch/);
  });

  it('fails if the archive has no model.json at its root, naming what it holds', () => {
    expect(() => readModelFromArchive(tarGz(rawEntry('nested/model.json', '0', Buffer.from('{}'))))).toThrow(
      /must hold model\.json at its root, but it holds nested\/model\.json/,
    );
  });
});

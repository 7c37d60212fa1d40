/**
 * The Gram path's parallel CSV parse (`lib/trainer/gram-csv.ts`): CSV files cut into byte ranges,
 * parsed by several threads, merged in file order. The statistics and the model must not depend on
 * the thread count, and a bad cell anywhere must be reported as the one-thread parse reports it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHeads } from '../../lib/trainer/columnar';
import { listChannelFiles } from '../../lib/trainer/contract';
import { gramStats } from '../../lib/trainer/gram';
import { momentsOfChannel } from '../../lib/trainer/gram-csv';
import { trainOnGram } from '../../lib/trainer/stream';
import { generateLinearData } from '../../lib/trainer/synthetic';
import { WINE_CSV, withTempDir } from './helpers';

const HPS = { target: 'quality', alpha: 0.05, l1_ratio: 0.3, max_iter: 1000, tol: 1e-10 };

/** Small ranges and workers from the first byte, so the wine data (100 KB) is cut into ~25 ranges. */
const parallel = (threads: number) => ({ threads, rangeBytes: 4096, parallelMinBytes: 0, legacyMessageMaxBytes: 0 });

async function wineLines(): Promise<string[]> {
  return (await readFile(WINE_CSV, 'utf8')).trimEnd().split('\n');
}

async function channel(dir: string, files: Record<string, string>) {
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return listChannelFiles(dir, 'train');
}

describe('Gram path, CSV on several threads', () => {
  it('gives the same statistics to the last bit on 1, 2 and 3 threads, chunks of any size', async () => {
    await withTempDir(async (dir) => {
      // prepare: 3,000 rows of 5 features in two files; chunks of 64 rows, ranges of 8 KiB
      const data = generateLinearData({ seed: 7, rows: 3000, features: 5, noise: 1, correlation: 0.4 });
      const names = [...data.featureNames, data.target];
      const row = (i: number) => [...data.featureNames.map((_, j) => data.X.data[j * 3000 + i]), data.y[i]].join(',');
      const text = (from: number, to: number) =>
        `${names.join(',')}\n${Array.from({ length: to - from }, (_, k) => row(from + k)).join('\n')}\n`;
      const files = await channel(dir, { 'a.csv': text(0, 1700), 'b.csv': text(1700, 3000) });
      const statsOn = async (threads: number) => {
        const scanned = await readHeads(files, { hash: false, csvHeadOnly: true });
        const parsed = await momentsOfChannel(scanned, files, names, 64, { threads, rangeBytes: 8192, parallelMinBytes: 0 });
        const rows: number[] = [];
        expect(parsed.replay((m) => rows.push(m))).toBe(true);
        parsed.release();
        return { stats: gramStats(parsed.acc), rows, versions: parsed.versions };
      };
      // act
      const one = await statsOn(1);
      const two = await statsOn(2);
      const three = await statsOn(3);
      // assess
      expect(one.stats.rows).toBe(3000);
      expect(one.rows.reduce((a, b) => a + b, 0)).toBe(3000);
      for (const other of [two, three]) {
        expect(Array.from(other.stats.gram)).toEqual(Array.from(one.stats.gram));
        expect(Array.from(other.stats.xty)).toEqual(Array.from(one.stats.xty));
        expect(Array.from(other.stats.xMean)).toEqual(Array.from(one.stats.xMean));
        expect([other.stats.yMean, other.stats.yy]).toEqual([one.stats.yMean, one.stats.yy]);
        expect(other.rows).toEqual(one.rows);
        expect(other.versions).toEqual(one.versions);
      }
      expect(one.versions.map((v) => v.key)).toEqual(['train/a.csv', 'train/b.csv']);
    });
  });

  it('trains the same model to the last bit on 1 and 2 threads, and within 1e-12 of one range per file', async () => {
    const files = [{ key: 'train/wine.csv', path: WINE_CSV }];
    const one = await trainOnGram(files, undefined, HPS, parallel(1));
    const two = await trainOnGram(files, undefined, HPS, parallel(2));
    const whole = await trainOnGram(files, undefined, HPS, {});
    expect(Array.from(two.fit.coef)).toEqual(Array.from(one.fit.coef));
    expect(two.fit.intercept).toBe(one.fit.intercept);
    expect(two.trainMetrics).toEqual(one.trainMetrics);
    expect(two.fit.iterations).toBe(whole.fit.iterations);
    const scale = Math.max(...Array.from(whole.fit.coef, Math.abs));
    one.fit.coef.forEach((w, j) => expect(Math.abs(w - whole.fit.coef[j]!)).toBeLessThan(1e-12 * scale));
    expect(two.versions).toEqual(whole.versions);
    expect(one.trainMetrics.rows).toBe(1599);
  });

  it('gives a range with quoted and padded cells (parsed by the full rules) the bits a worker would', async () => {
    await withTempDir(async (dir) => {
      // prepare: the same numbers in the same bytes per line (so the same ranges), two lines off the
      // byte-level path: '0.56' quoted as '".56"' with '0.9978' as '.9978', and '0.076' as ' .076'
      const lines = await wineLines();
      const odd = [...lines];
      const cells = odd[700]!.split(';');
      const zeros = cells.flatMap((c, k) => (/^0\.\d+$/.test(c) ? [k] : []));
      cells[zeros[0]!] = `"${cells[zeros[0]!]!.slice(1)}"`;
      cells[zeros[1]!] = cells[zeros[1]!]!.slice(1);
      odd[700] = cells.join(';');
      odd[900] = odd[900]!.replace(/;0\./, '; .');
      expect(odd.join('\n').length).toBe(lines.join('\n').length);
      expect(odd[900]).not.toBe(lines[900]);
      const a = await trainOnGram(await channel(dir, { 'w.csv': `${lines.join('\n')}\n` }), undefined, HPS, parallel(2));
      await writeFile(join(dir, 'w.csv'), `${odd.join('\n')}\n`);
      // act
      const b = await trainOnGram(await listChannelFiles(dir, 'train'), undefined, HPS, parallel(2));
      // assess
      expect(Array.from(b.fit.coef)).toEqual(Array.from(a.fit.coef));
      expect(b.trainMetrics).toEqual(a.trainMetrics);
    });
  });

  const bad: [string, (lines: string[]) => string[], string][] = [
    [
      'a cell is not numeric far into the file',
      (l) => l.map((x, i) => (i === 1200 ? x.replace(/^[^;]+/, 'abc') : x)),
      'train/w.csv: line 1201, column "fixed acidity": "abc" is not a number',
    ],
    [
      'two cells are bad: the first in the file is named, whichever thread met it',
      (l) => l.map((x, i) => (i === 1500 || i === 300 ? x.replace(/;[^;]+$/, '') : x)),
      'train/w.csv: line 301: has 11 fields but the header has 12',
    ],
    [
      'a cell is bad after blank lines, quoted cells and CRLF lines',
      (l) => [
        ...l.slice(0, 400).map((x) => `${x}\r`),
        '',
        '',
        ...l.slice(400, 800).map((x) => x.replace(/^([^;]+)/, '"$1"')),
        ...l.slice(800).map((x, i) => (i === 500 ? x.replace(/;([^;]+);/, ';NaN;') : x)),
      ],
      'train/w.csv: line 1303, column "volatile acidity": "NaN" is a missing value (missing values are not supported)',
    ],
  ];
  it.each(bad)('fails if %s, naming its line and column', async (_, edit, reason) => {
    await withTempDir(async (dir) => {
      const files = await channel(dir, { 'w.csv': `${edit(await wineLines()).join('\n')}\n` });
      for (const threads of [1, 2]) {
        await expect(trainOnGram(files, undefined, HPS, parallel(threads))).rejects.toThrow(reason);
      }
    });
  });

  it('fails if a second file has a header only, after the first parsed on several threads', async () => {
    await withTempDir(async (dir) => {
      const lines = await wineLines();
      const files = await channel(dir, { 'a.csv': `${lines.join('\n')}\n`, 'b.csv': `${lines[0]}\n` });
      await expect(trainOnGram(files, undefined, HPS, parallel(2))).rejects.toThrow(
        'train/b.csv: the file has a header but no data rows',
      );
    });
  });
});

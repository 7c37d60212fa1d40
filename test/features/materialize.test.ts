/**
 * `summarizeMapRun`: a Map Run's counts from its ResultWriter files, as Step Functions writes them
 * (and the local runner, see test/local/materialize.test.ts for the whole run); `parseJsonCell` by
 * value type.
 */
import { describe, expect, it } from 'vitest';
import { MaterializeDataError, parseJsonCell, summarizeMapRun, type TextObjects } from '../../lib/features/materialize';

const objects = (files: Record<string, string>): TextObjects => ({
  async getText(bucket, key) {
    const body = files[`${bucket}/${key}`];
    if (body === undefined) throw new Error(`NoSuchKey: ${bucket}/${key}`);
    return body;
  },
});
const child = (out: object) => ({ Status: 'SUCCEEDED', Output: JSON.stringify(out) });

describe('summarizeMapRun', () => {
  it('adds up the children of every SUCCEEDED file and counts the FAILED ones', async () => {
    const files = {
      'b/r/manifest.json': JSON.stringify({
        DestinationBucket: 'b',
        ResultFiles: { SUCCEEDED: [{ Key: 'r/SUCCEEDED_0.json' }, { Key: 'r/SUCCEEDED_1.json' }], FAILED: [{ Key: 'r/FAILED_0.json' }] },
      }),
      'b/r/SUCCEEDED_0.json': JSON.stringify([child({ parts: 2, rowsRead: 10, written: 9, skippedStale: 1 })]),
      'b/r/SUCCEEDED_1.json': JSON.stringify([child({ parts: 1, rowsRead: 5, written: 5, skippedStale: 0 })]),
      'b/r/FAILED_0.json': JSON.stringify([{ Status: 'FAILED', Error: 'MaterializeDataError', Cause: 'row …' }]),
    };

    const sum = await summarizeMapRun(objects(files), { bucket: 'b', key: 'r/manifest.json' });

    expect(sum).toEqual({ children: 3, failedChildren: 1, parts: 3, rowsRead: 15, written: 14, skippedStale: 1 });
  });

  it('counts nothing for a Map Run with no items (an empty window)', async () => {
    const files = { 'b/r/manifest.json': JSON.stringify({ ResultFiles: { SUCCEEDED: [], FAILED: [], PENDING: [] } }) };
    expect(await summarizeMapRun(objects(files), { bucket: 'b', key: 'r/manifest.json' })).toMatchObject({
      children: 0,
      rowsRead: 0,
    });
  });

  it.each([
    ['a manifest that is not JSON', { 'b/m': '{' }, /s3:\/\/b\/m is not JSON/],
    ['a result file entry without a Key', { 'b/m': JSON.stringify({ ResultFiles: { SUCCEEDED: [{}] } }) }, /has no Key/],
    [
      'a result file that is not a list',
      { 'b/m': JSON.stringify({ ResultFiles: { SUCCEEDED: [{ Key: 's' }] } }), 'b/s': '{}' },
      /s3:\/\/b\/s is not a JSON array/,
    ],
  ])('fails with MaterializeDataError on %s', async (_, files, message) => {
    const run = summarizeMapRun(objects(files), { bucket: 'b', key: 'm' });
    await expect(run).rejects.toThrow(MaterializeDataError);
    await expect(summarizeMapRun(objects(files), { bucket: 'b', key: 'm' })).rejects.toThrow(message);
  });
});

describe('parseJsonCell', () => {
  it.each([
    ['INT64', 7, 7],
    ['INT64', '7', 7],
    ['FLOAT', 9.5, 9.5],
    ['BOOL', true, true],
    ['BOOL', 'false', false],
    ['STRING', 'x', 'x'],
    ['UNIX_TIMESTAMP', '2024-05-01 00:00:00.000', 1714521600],
    ['FLOAT', null, null],
    ['FLOAT', undefined, null],
  ] as const)('reads %s from %j', (type, value, expected) => {
    expect(parseJsonCell(type, value)).toBe(expected);
  });

  it.each([
    ['INT64', 1.5, /not a safe integer/],
    ['STRING', 5, /5 is not a string/],
    ['BOOL', 1, /1 is not a bool/],
    ['FLOAT', { x: 1 }, /is not a FLOAT value/],
  ] as const)('refuses %s from %j', (type, value, message) => {
    expect(() => parseJsonCell(type, value)).toThrow(message);
  });
});

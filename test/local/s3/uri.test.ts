import { describe, expect, it } from 'vitest';
import { layout } from '../../../lib/local/layout';
import { assertKey, objectPath, parseS3Url } from '../../../lib/local/s3/uri';

describe('parseS3Url', () => {
  it.each([
    ['s3://datalake-raw/wine/red.csv', 'datalake-raw', 'wine/red.csv'],
    ['s3://datalake-raw', 'datalake-raw', ''],
    ['s3://datalake-raw/a b%20c', 'datalake-raw', 'a b%20c'], // s3:// keys are literal
    ['https://s3.eu-west-1.amazonaws.com/datalake-raw/wine/red%20v2.csv', 'datalake-raw', 'wine/red v2.csv'],
    ['https://s3.amazonaws.com/datalake-raw/k', 'datalake-raw', 'k'],
    ['https://s3-eu-west-1.amazonaws.com/datalake-raw/k', 'datalake-raw', 'k'],
    ['https://datalake-raw.s3.eu-west-1.amazonaws.com/wine/red.csv', 'datalake-raw', 'wine/red.csv'],
    ['https://my.dotted.bucket.s3.amazonaws.com/k', 'my.dotted.bucket', 'k'],
  ])('parses %s', (url, bucket, key) => {
    expect(parseS3Url(url)).toEqual({ bucket, key });
  });

  it.each([
    's3://datalake-raw/../etc/passwd',
    's3://datalake-raw/a/../../b',
    's3://datalake-raw//etc/passwd',
    'https://s3.us-east-1.amazonaws.com/datalake-raw/a/%2E%2E/%2E%2E/x',
    's3://../x',
    'https://example.com/bucket/key',
    'ftp://s3.amazonaws.com/b/k',
    'not a url',
  ])('fails if the address is unsafe or not S3: %s', (url) => {
    expect(() => parseS3Url(url)).toThrow(/S3 address|cannot store key|not valid/);
  });
});

describe('objectPath', () => {
  it('maps a key to <stateDir>/s3/<bucket>/<key>', () => {
    expect(objectPath('/state', { bucket: 'raw', key: 'a/b.csv' })).toBe(
      `${layout('/state').bucket('raw')}/a/b.csv`,
    );
  });

  it.each(['..', 'a/..', './a', 'a//b', '/abs', 'dir/', 'nul\0byte', ''])('fails if the key is %j', (key) => {
    expect(() => objectPath('/state', { bucket: 'raw', key })).toThrow();
  });

  it('allows dots inside segments', () => {
    expect(() => assertKey('a/..b/c..')).not.toThrow();
  });
});

/**
 * Listings of the lake over S3's REST protocol (path style, as the shell's `s3` reads objects):
 * the buckets, and the keys under a prefix (`ListObjectsV2`). The Models page finds a model's
 * drift reports with them.
 */
import { xmlValues } from '../logic/models';
import { config } from './config';
import { requestText } from './http';

export const lake = {
  /** Every bucket's name (`ListBuckets`). */
  async buckets(): Promise<string[]> {
    return xmlValues(await requestText(`${config().s3Endpoint}/`, { method: 'GET' }, 's3'), 'Name');
  },
  /** The keys under a prefix (first 1,000; reports are few). */
  async keys(bucket: string, prefix: string): Promise<string[]> {
    const q = new URLSearchParams({ 'list-type': '2', prefix, 'max-keys': '1000' });
    const xml = await requestText(`${config().s3Endpoint}/${encodeURIComponent(bucket)}?${q}`, { method: 'GET' }, 's3');
    return xmlValues(xml, 'Key');
  },
};

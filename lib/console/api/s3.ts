/** S3 over its REST protocol (path style), for the reports the platform writes to the lake. */
import { config } from './config';
import { requestText } from './http';

const objectUrl = (bucket: string, key: string) =>
  `${config().s3Endpoint}/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;

export const s3 = {
  /** An object's body as text; rejects with S3's `<Error>` code (e.g. `NoSuchKey`). */
  getText: (bucket: string, key: string) => requestText(objectUrl(bucket, key), { method: 'GET' }, 's3'),
  /** `s3://bucket/key` → its body as text. */
  getUri(uri: string): Promise<string> {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!m) return Promise.reject(new Error(`An S3 URI must look like s3://bucket/key, but ${uri} was provided`));
    return s3.getText(m[1]!, m[2]!);
  },
  objectUrl,
};

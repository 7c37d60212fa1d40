/**
 * Decoder for S3's `aws-chunked` content encoding. The SDK sends streamed bodies (and, since the
 * default flexible checksums, many others) as
 *
 *   <hex size>[;chunk-signature=<sig>]\r\n<bytes>\r\n … 0[;chunk-signature=<sig>]\r\n[<trailer>:<value>\r\n…]\r\n
 *
 * with `x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, `STREAMING-UNSIGNED-PAYLOAD-TRAILER`
 * and friends. Storing that framing verbatim would corrupt the object, so it is stripped here.
 * Signatures are parsed but not checked: the local engine has no secret to check them against.
 */
import { S3Error } from './uri';

/** Whether a request's body is aws-chunked framed. */
export function isAwsChunked(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  const sha = headers['x-amz-content-sha256'];
  const encoding = headers['content-encoding'];
  return (
    (typeof sha === 'string' && sha.startsWith('STREAMING-')) ||
    (typeof encoding === 'string' && encoding.split(',').some((e) => e.trim() === 'aws-chunked'))
  );
}

/** The `Content-Encoding` to store once the `aws-chunked` token is removed (undefined if none remain). */
export function storedContentEncoding(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const rest = header
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '' && e !== 'aws-chunked');
  return rest.length > 0 ? rest.join(',') : undefined;
}

/**
 * Decodes an aws-chunked byte stream into the payload bytes; trailing headers (e.g.
 * `x-amz-checksum-crc32`) land in `trailers` once the stream is consumed.
 *
 * @example
 * const trailers: Record<string, string> = {};
 * for await (const bytes of decodeAwsChunked(req, trailers)) file.write(bytes);
 */
export async function* decodeAwsChunked(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  trailers: Record<string, string> = {},
): AsyncGenerator<Buffer> {
  let buf = Buffer.alloc(0);
  let state = 'size' as 'size' | 'data' | 'crlf' | 'trailer' | 'done';
  let remaining = 0;
  const malformed = (why: string) =>
    new S3Error('IncompleteBody', `The aws-chunked request body is malformed: ${why}.`, 400);

  for await (const chunk of source) {
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, Buffer.from(chunk)]);
    for (;;) {
      if (state === 'size' || state === 'trailer') {
        const eol = buf.indexOf('\r\n');
        if (eol < 0) {
          if (buf.length > 8192) throw malformed('a chunk header is too long');
          break;
        }
        const line = buf.subarray(0, eol).toString('latin1');
        buf = buf.subarray(eol + 2);
        if (state === 'size') {
          const size = /^([0-9a-fA-F]+)(;.*)?$/.exec(line);
          if (!size) throw malformed(`bad chunk header "${line.slice(0, 80)}"`);
          remaining = Number.parseInt(size[1]!, 16);
          state = remaining === 0 ? 'trailer' : 'data';
        } else if (line === '') {
          state = 'done';
        } else {
          const colon = line.indexOf(':');
          if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
      } else if (state === 'data') {
        if (buf.length === 0) break;
        const take = Math.min(remaining, buf.length);
        yield buf.subarray(0, take);
        buf = buf.subarray(take);
        remaining -= take;
        if (remaining === 0) state = 'crlf';
      } else if (state === 'crlf') {
        if (buf.length < 2) break;
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw malformed('a chunk is longer than its declared size');
        buf = buf.subarray(2);
        state = 'size';
      } else {
        break; // done: ignore anything after the final CRLF
      }
    }
  }
  // The final empty line after trailers is sometimes omitted; anything earlier is a cut-off body.
  if (state !== 'done' && state !== 'trailer') throw malformed('the body ended before the final chunk');
}

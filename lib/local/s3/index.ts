/** The local S3 engine: an object store over the state dir and an S3-compatible endpoint on it. */
export { decodeAwsChunked, isAwsChunked } from './aws-chunked';
export { type S3Server, type S3ServerOptions, startS3Server } from './server';
export {
  type ByteRange,
  byteCompare,
  type CompletedPart,
  type ListOptions,
  type ListResult,
  type ObjectAttributes,
  type ObjectBody,
  type ObjectInfo,
  type PutOptions,
  parseRange,
  S3Store,
  type S3StoreOptions,
} from './store';
export {
  assertBucketName,
  assertKey,
  keyPath,
  objectPath,
  parseS3Url,
  S3Error,
  type S3Location,
} from './uri';

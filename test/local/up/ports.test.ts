/**
 * `mlops up`'s ports: derived from --port, overridden per endpoint, 0 for random, and probed
 * before anything starts.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { describeTakenPort, firstTakenPort, resolvePorts } from '../../../lib/local/ports';

const held: Server[] = [];
afterEach(async () => {
  await Promise.all(held.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});
const hold = (port = 0) =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      held.push(s);
      resolve((s.address() as { port: number }).port);
    });
  });

describe('resolvePorts', () => {
  it('derives the AWS endpoint, S3 and DynamoDB from --port', () => {
    expect(resolvePorts({ port: 8080 })).toEqual({ gateway: 8080, aws: 8081, s3: 8082, dynamodb: 8083 });
  });

  it('lets a flag move one endpoint and leaves the others derived', () => {
    expect(resolvePorts({ port: 8080, s3Port: 4569 })).toEqual({ gateway: 8080, aws: 8081, s3: 4569, dynamodb: 8083 });
  });

  it('makes every endpoint random with --port 0, unless pinned', () => {
    expect(resolvePorts({ port: 0 })).toEqual({ gateway: 0, aws: 0, s3: 0, dynamodb: 0 });
    expect(resolvePorts({ port: 0, dynamodbPort: 8000 })).toEqual({ gateway: 0, aws: 0, s3: 0, dynamodb: 8000 });
  });

  it('fails if a derived port passes 65535, naming the flag', () => {
    expect(() => resolvePorts({ port: 65534 })).toThrow(
      /--s3-port must be at most 65535, but --port 65534 puts the S3 endpoint on 65536/,
    );
  });

  it('fails if two endpoints share a port', () => {
    expect(() => resolvePorts({ port: 8080, dynamodbPort: 8080 })).toThrow(
      '--dynamodb-port must differ from --port, but both put an endpoint on port 8080',
    );
  });
});

describe('firstTakenPort', () => {
  it('finds the first held port and names its flag; port 0 is never probed', async () => {
    const taken = await hold();
    const free = await hold();
    held.pop()!.close(); // released again: free to probe
    expect(await firstTakenPort({ gateway: free, aws: 0, s3: taken, dynamodb: 0 })).toMatchObject({
      endpoint: 's3',
      port: taken,
      flag: '--s3-port',
      code: 'EADDRINUSE',
    });
    expect(await firstTakenPort({ gateway: free, aws: 0, s3: 0, dynamodb: 0 })).toBeUndefined();
    // the probe released the port again
    expect(await hold(free)).toBe(free);
  });

  it('describes a clash as a sentence naming the port and the flag', () => {
    expect(describeTakenPort({ endpoint: 'aws', port: 8081, code: 'EADDRINUSE' })).toBe(
      'port 8081 on 127.0.0.1 (the AWS endpoint) is in use: pass --aws-port <port>, or a different --port',
    );
    expect(describeTakenPort({ endpoint: 'gateway', port: 8080, code: 'EADDRINUSE' })).toBe(
      'port 8080 on 127.0.0.1 (the gateway) is in use: pass --port <port>',
    );
  });
});

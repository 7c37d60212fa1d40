/**
 * The local platform's listening ports. Each endpoint a user saves (`--endpoint-url`, an SDK
 * client's `endpoint`) keeps its port across restarts because it is derived from the gateway's:
 *
 *   gateway (front door)  --port           8080 by default
 *   AWS endpoint          --aws-port       port + 1
 *   S3                    --s3-port        port + 2
 *   DynamoDB              --dynamodb-port  port + 3
 *
 * `--port 0` makes every derived port 0 (any free one), which is what tests use; a flag given
 * explicitly wins over the derivation. Ports are probed before anything is synthesized or
 * started, so a clash is reported at once and names the flag that moves the port.
 *
 * @example
 * const ports = resolvePorts({ port: 8080, s3Port: 9000 }); // { gateway: 8080, aws: 8081, s3: 9000, dynamodb: 8083 }
 * const taken = await firstTakenPort(ports);                 // undefined, or { endpoint: 's3', port: 9000, flag: '--s3-port' }
 */
import { createServer } from 'node:net';
import { listenOnLoopback } from './listen';

/** The endpoints with a port of their own, in the order of their offset from `--port`. */
export const PORT_ENDPOINTS = ['gateway', 'aws', 's3', 'dynamodb'] as const;
export type PortEndpoint = (typeof PORT_ENDPOINTS)[number];
export type PlatformPorts = Readonly<Record<PortEndpoint, number>>;

/** The flag that sets each endpoint's port, for messages and `--help`. */
export const PORT_FLAGS: Readonly<Record<PortEndpoint, string>> = {
  gateway: '--port',
  aws: '--aws-port',
  s3: '--s3-port',
  dynamodb: '--dynamodb-port',
};

const LABELS: Readonly<Record<PortEndpoint, string>> = {
  gateway: 'the gateway',
  aws: 'the AWS endpoint',
  s3: 'the S3 endpoint',
  dynamodb: 'DynamoDB',
};

/** The port flags of `mlops up`; all but `port` are optional. */
export interface PortFlags {
  readonly port: number;
  readonly awsPort?: number;
  readonly s3Port?: number;
  readonly dynamodbPort?: number;
}

/** Thrown for a port set that cannot work (out of range, two endpoints on one port). */
export class PortConfigError extends Error {
  override readonly name = 'PortConfigError';
}

/** Every endpoint's port: the flag when given, else `--port` plus the endpoint's offset (0 stays 0). */
export function resolvePorts(flags: PortFlags): PlatformPorts {
  const given: Record<PortEndpoint, number | undefined> = {
    gateway: flags.port,
    aws: flags.awsPort,
    s3: flags.s3Port,
    dynamodb: flags.dynamodbPort,
  };
  const ports = Object.fromEntries(
    PORT_ENDPOINTS.map((e, offset) => [e, given[e] ?? (flags.port === 0 ? 0 : flags.port + offset)]),
  ) as Record<PortEndpoint, number>;
  for (const e of PORT_ENDPOINTS) {
    const p = ports[e];
    if (p > 65535) {
      throw new PortConfigError(
        `${PORT_FLAGS[e]} must be at most 65535, but --port ${flags.port} puts ${LABELS[e]} on ${p}: pass a lower --port or ${PORT_FLAGS[e]}`,
      );
    }
  }
  const fixed = PORT_ENDPOINTS.filter((e) => ports[e] !== 0);
  for (const [i, a] of fixed.entries()) {
    const b = fixed.slice(i + 1).find((x) => ports[x] === ports[a]);
    if (b) {
      throw new PortConfigError(
        `${PORT_FLAGS[b]} must differ from ${PORT_FLAGS[a]}, but both put an endpoint on port ${ports[a]}`,
      );
    }
  }
  return ports;
}

/** A port that another process holds. */
export interface TakenPort {
  readonly endpoint: PortEndpoint;
  readonly port: number;
  readonly flag: string;
  readonly code: string;
}

/**
 * The first fixed port that cannot be bound on loopback right now, or undefined. Port 0 is never
 * checked (any free port will do). A probe is bound and closed at once; the platform binds the
 * same ports seconds later, so a process that takes one in between still fails the start (with
 * EADDRINUSE, see {@link describeTakenPort}).
 */
export async function firstTakenPort(ports: PlatformPorts): Promise<TakenPort | undefined> {
  for (const endpoint of PORT_ENDPOINTS) {
    const port = ports[endpoint];
    if (port === 0) continue;
    const probe = createServer();
    try {
      await listenOnLoopback(probe, port);
    } catch (err) {
      return { endpoint, port, flag: PORT_FLAGS[endpoint], code: (err as NodeJS.ErrnoException).code ?? 'EADDRINUSE' };
    } finally {
      await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()));
    }
  }
  return undefined;
}

/** "port 8081 on 127.0.0.1 (the AWS endpoint) is in use: pass --aws-port <port>, or a different --port" */
export function describeTakenPort(taken: Pick<TakenPort, 'endpoint' | 'port' | 'code'>): string {
  const why = taken.code === 'EACCES' ? 'cannot be bound (permission denied)' : 'is in use';
  const other = taken.endpoint === 'gateway' ? '' : ', or a different --port';
  return `port ${taken.port} on 127.0.0.1 (${LABELS[taken.endpoint]}) ${why}: pass ${PORT_FLAGS[taken.endpoint]} <port>${other}`;
}

/** Which endpoint a bind error came from, matched on its port; undefined when none matches. */
export function endpointOfPort(ports: PlatformPorts, port: unknown): PortEndpoint | undefined {
  return PORT_ENDPOINTS.find((e) => ports[e] !== 0 && ports[e] === port);
}

/**
 * Every local engine listens the same way: on loopback only (the local platform is never reachable
 * from another machine), on the given port or a free one, and a failure to bind (`EADDRINUSE`,
 * `EACCES`) rejects instead of surfacing later as an unhandled `error` event.
 *
 * @example
 * const server = createServer(handler);
 * const port = await listenOnLoopback(server, options.port); // 0 or undefined: any free port
 * console.log(`http://127.0.0.1:${port}`);
 */
import type { AddressInfo, Server } from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** Binds `server` to {@link LOOPBACK}:`port` (any free port by default); resolves the bound port. */
export function listenOnLoopback(server: Server, port = 0): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

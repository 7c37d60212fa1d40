/**
 * Ports for processes the tests start on a port they are told (`mlops up --port P` binds P to P + 3).
 * A base comes from below Linux's ephemeral range (32768–60999 by default), where the kernel does
 * not hand out ports to `listen(0)` and outgoing connections, which the suite's other files make all
 * the time: a free port from `listen(0)`, released and bound again seconds later with its neighbours,
 * once lost its neighbour to one of them (the README test's `npm start`: "port 40406 ... is in use").
 *
 * @example
 * const base = await freePortRun(4); // base … base + 3 were free a moment ago
 */
import { createServer, type Server } from 'node:net';

/** A server listening on `port` of 127.0.0.1 (rejects if it is taken). */
export const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
export const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

/** A base port whose next `count - 1` ports are free too (probed, then released), in 20000–32767. */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (32_768 - 20_000 - count));
    const held: Server[] = [];
    try {
      for (let i = 0; i < count; i++) held.push(await listen(base + i));
      return base;
    } catch {
      // one of them is taken: try another base
    } finally {
      await Promise.all(held.map(close));
    }
  }
  throw new Error(`no run of ${count} free ports found in 20000-32767`);
}

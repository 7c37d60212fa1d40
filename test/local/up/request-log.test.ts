/**
 * Local request logging: sampled at the environment config's `serving.requestLogSampleRate`, and
 * capped in size, through the local serving front (a real model server, real HTTP).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveEnvironment } from '../../../lib/config';
import { ConfigError } from '../../../lib/config/environments';
import { LocalServing, servingRoutes } from '../../../lib/local/serving';
import { TINY, writeModelDir } from '../../serving/helpers';

const dirs: string[] = [];
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** LocalServing behind a loopback front door, as the platform mounts it. */
async function serve(options: { sampleRate?: number; maxBytes?: number }) {
  const logDir = mkdtempSync(join(tmpdir(), 'mlops-predlog-'));
  dirs.push(logDir);
  const lines: string[] = [];
  const serving = new LocalServing({
    s3Endpoint: 'http://127.0.0.1:9', // never used: the model is a local directory
    region: 'us-east-1',
    routes: servingRoutes(['/seldon/{namespace}/{deployment}/{proxy+}', '/v2/{proxy+}']),
    requestLogDir: logDir,
    ...(options.sampleRate === undefined ? {} : { requestLogSampleRate: options.sampleRate }),
    ...(options.maxBytes === undefined ? {} : { requestLogMaxBytes: options.maxBytes }),
    log: (l) => lines.push(l),
  });
  const modelDir = await writeModelDir(TINY);
  dirs.push(modelDir);
  await serving.deploy({ namespace: 'seldon', deployment: 'tiny', modelUri: modelDir, version: '1' });
  const front = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!serving.handle(req, res)) res.writeHead(404).end();
  });
  servers.push(front);
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(front.address() as { port: number }).port}`;
  const predict = async (n: number) => {
    for (let i = 0; i < n; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, n - i) }, (_, j) =>
          fetch(`${url}/seldon/seldon/tiny/api/v1.0/predictions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ data: { ndarray: [[i + j, 1]] } }),
          }).then((r) => r.arrayBuffer()),
        ),
      );
    }
  };
  const logged = () => {
    const files = readdirSync(join(logDir, 'deployment=tiny'), { recursive: true, withFileTypes: true }).filter((e) =>
      e.isFile(),
    );
    const paths = files.map((f) => join(f.parentPath, f.name));
    return {
      lines: paths.flatMap((p) => readFileSync(p, 'utf8').trimEnd().split('\n')).filter(Boolean).length,
      bytes: paths.reduce((n, p) => n + statSync(p).size, 0),
    };
  };
  return { serving, predict, logged, lines };
}

describe('local request logging', () => {
  it('is sampled at the local config rate by default (0.1)', async () => {
    expect(resolveEnvironment('local').serving.requestLogSampleRate).toBe(0.1);
    const s = await serve({});
    await s.predict(400);
    await s.serving.close(); // flushes the logger
    // Binomial(400, 0.1): mean 40, sd 6; 0 or 400 would mean the rate was ignored.
    const { lines } = s.logged();
    expect(lines).toBeGreaterThan(10);
    expect(lines).toBeLessThan(90);
  });

  it('honours another rate, and 1 logs every prediction', async () => {
    const all = await serve({ sampleRate: 1 });
    await all.predict(60);
    await all.serving.close();
    expect(all.logged().lines).toBe(60);
    const none = await serve({ sampleRate: 0 });
    await none.predict(40);
    await none.serving.close();
    expect(() => none.logged()).toThrow(/ENOENT/); // nothing was ever written
  });

  it('stops at its size cap and says so once', async () => {
    const s = await serve({ sampleRate: 1, maxBytes: 4000 });
    // Batches of 10 (~1.3 KB each): the first fits under the cap, a later one does not.
    for (let i = 0; i < 6; i++) {
      await s.predict(10);
      await new Promise((r) => setTimeout(r, 1100)); // one batch per flush interval
    }
    await s.serving.close();
    const { bytes, lines } = s.logged();
    expect(bytes).toBeLessThanOrEqual(4000);
    expect(lines).toBeGreaterThan(0);
    expect(lines).toBeLessThan(60);
    const reports = s.lines.filter((l) => /reached its cap of/.test(l));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/^\[serving seldon\/tiny\] request log: the request log in .* reached its cap of 3\.9 KiB/);
  });
});

describe('the sample-rate knob', () => {
  it('fails config validation outside 0..1, naming the setting', () => {
    expect(() =>
      resolveEnvironment('local', { overrides: { local: { serving: { requestLogSampleRate: 1.5 } } } }),
    ).toThrow(ConfigError);
    expect(() =>
      resolveEnvironment('staging', { overrides: { staging: { serving: { requestLogSampleRate: -0.1 } } } }),
    ).toThrow(/serving\.requestLogSampleRate: serving\.requestLogSampleRate must be between 0 and 1/);
  });
});

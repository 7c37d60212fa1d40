/**
 * The router's reloader (RELOAD_SCRIPT), run by a real `sh` against a stand-in `nginx` on PATH
 * that records its calls: no nginx binary exists on the build machines, and the script's logic
 * (reload on a change, never load a file set `nginx -t` rejects, retry) is what the kit wrote.
 * Paths and the interval are substituted for a temporary directory and 50 ms.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELOAD_INTERVAL_SECONDS, RELOAD_SCRIPT, ROUTES_DIR, routerManifests } from '../../lib/serving-infra/router';

const dir = mkdtempSync(join(tmpdir(), 'router-reload-'));
const routes = join(dir, 'routes');
const bin = join(dir, 'bin');
const tmp = join(dir, 'tmp');
const calls = join(dir, 'calls');
const reject = join(dir, 'reject');
let child: ChildProcess;
let stderr = '';

/** The nginx stand-in: `-t` fails while the `reject` file exists; every call is logged. */
const FAKE_NGINX = `#!/bin/sh
echo "$*" >> ${calls}
if [ "$1" = "-t" ] && [ -e ${reject} ]; then echo "nginx: [emerg] duplicate location" >&2; exit 1; fi
exit 0
`;

const reloads = () => readFileSync(calls, 'utf8').split('\n').filter((l) => l === '-s reload').length;

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(() => {
  for (const d of [routes, bin, tmp]) mkdirSync(d);
  writeFileSync(calls, '');
  writeFileSync(join(bin, 'nginx'), FAKE_NGINX);
  chmodSync(join(bin, 'nginx'), 0o755);
  writeFileSync(join(routes, '07.maps'), 'split_clients "${request_id}" $a { * a:8000; }\n');
  writeFileSync(join(routes, '07.locations'), 'location /seldon/seldon/a/ { proxy_pass http://$a; }\n');
  // The script's own /tmp/ first: the temporary directory itself lives under /tmp.
  const script = RELOAD_SCRIPT.replaceAll('/tmp/', `${tmp}/`)
    .replaceAll(ROUTES_DIR, routes)
    .replace(`sleep ${RELOAD_INTERVAL_SECONDS}`, 'sleep 0.05');
  child = spawn('/bin/sh', ['-c', script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
});
afterAll(() => {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('router reloader', () => {
  it('loads the routes once at start, after nginx -t accepts them, and records what it loaded', async () => {
    await until('the first reload', () => reloads() === 1);
    await until('the record of what was loaded', () => {
      try {
        return readFileSync(join(tmp, 'routes-applied'), 'utf8').length > 0;
      } catch {
        return false;
      }
    });
    expect(readFileSync(calls, 'utf8').split('\n').slice(0, 2)).toEqual(['-t -q', '-s reload']);
    expect(readFileSync(join(tmp, 'routes-applied'), 'utf8')).toContain(join(routes, '07.maps'));
  });

  it('does nothing while the files are unchanged', async () => {
    const before = readFileSync(calls, 'utf8');
    await new Promise((r) => setTimeout(r, 400));
    expect(readFileSync(calls, 'utf8')).toBe(before);
  });

  it('reloads (no restart) when a shard changes', async () => {
    writeFileSync(join(routes, '07.locations'), 'location /seldon/seldon/b/ { proxy_pass http://$a; }\n');
    await until('the second reload', () => reloads() === 2);
  });

  it('never loads a file set nginx rejects, and loads it once it is fixed', async () => {
    writeFileSync(reject, '');
    writeFileSync(join(routes, '12.locations'), 'location /seldon/seldon/b/ { }\n');
    await until('the rejection', () => stderr.includes('routes not loaded'));
    await new Promise((r) => setTimeout(r, 200));
    expect(reloads()).toBe(2);
    expect(stderr).toContain('duplicate location');
    rmSync(reject);
    await until('the reload after the fix', () => reloads() === 3);
  });

  it('runs in the router pod beside nginx: same image, shared process namespace, same mounts', () => {
    const deployment = routerManifests('arn:tg', 'registry.example/nginx-unprivileged@sha256:' + 'b'.repeat(64)).find((m) => m['kind'] === 'Deployment') as any;
    const spec = deployment.spec.template.spec;
    expect(spec.shareProcessNamespace).toBe(true);
    const [nginx, reloader] = spec.containers;
    expect(reloader.name).toBe('reloader');
    expect(reloader.image).toBe(nginx.image);
    expect(reloader.command).toEqual(['/bin/sh', '-c', RELOAD_SCRIPT]);
    expect(reloader.volumeMounts).toEqual(nginx.volumeMounts);
    expect(reloader.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    // No pod-template annotation tied to the routes: a route change never rolls the router's pods.
    expect(JSON.stringify(deployment.spec.template.metadata)).not.toContain('routes-hash');
    const sources = spec.volumes.find((v: any) => v.name === 'routes').projected.sources;
    expect(sources).toHaveLength(65);
    expect(sources.every((s: any) => s.configMap.optional === true)).toBe(true);
  });
});

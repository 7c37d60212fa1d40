/**
 * Local serving on the prediction routes it is given (the stage's serving fact): requests are
 * dispatched to the deployment's model server in-process — its own listener never sees a
 * connection — with the route's protocol deciding deployment choice and error shape.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { LocalServing, servingRoutes } from '../../../lib/local/serving';
import { packModelDir } from '../../../lib/model/archive';
import { ArtifactDigestError } from '../../../lib/serving';
import { TINY, WINE, writeModelDir } from '../../serving/helpers';

let serving: LocalServing;
let front: Server;
let url: string;
const dirs: string[] = [];

beforeAll(async () => {
  // prepare: a deployment behind a front door whose Seldon route is not the kit's usual one
  // (OIP's paths are the protocol's own, /v2)
  serving = new LocalServing({
    s3Endpoint: 'http://127.0.0.1:9', // never used: the model is a local directory
    region: 'us-east-1',
    routes: servingRoutes(['/serve/{namespace}/{deployment}/{proxy+}', '/v2/{proxy+}']),
  });
  const modelDir = await writeModelDir(TINY);
  dirs.push(modelDir, mkdtempSync(join(tmpdir(), 'mlops-routes-')));
  await serving.deploy({ namespace: 'ns', deployment: 'tiny', modelUri: modelDir, version: '1' });
  front = createServer((req, res) => {
    if (!serving.handle(req, res)) res.writeHead(418).end('not serving');
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(front.address() as { port: number }).port}`;
});
afterAll(async () => {
  await serving.close();
  await new Promise((r) => front.close(r));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

const post = (path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('local serving routes', () => {
  it('serves Seldon on a route naming {namespace}/{deployment}, without a hop to the model server port', async () => {
    const res = await post('/serve/ns/tiny/api/v1.0/predictions?x=1', { data: { ndarray: [[1, 2]] } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { ndarray: unknown[] } }).data.ndarray).toHaveLength(1);
    const { server } = (serving as unknown as { servers: Map<string, { server: { server: Server } }> }).servers.get('ns/tiny')!;
    const connections = await new Promise<number>((r, j) => server.server.getConnections((e, n) => (e ? j(e) : r(n))));
    expect(connections).toBe(0);
  });

  it('serves OIP on a route without them, choosing the deployment by the model named', async () => {
    const res = await post('/v2/models/tiny/infer', {
      inputs: [{ name: 'input-0', datatype: 'FP64', shape: [1, 2], data: [1, 2] }],
    });
    expect(res.status).toBe(200);
    expect(await (await fetch(`${url}/v2/models/tiny/ready`)).json()).toMatchObject({ ready: true });
  });

  it('answers what it cannot serve in the route protocol', async () => {
    const seldon = await post('/serve/ns/other/api/v1.0/predictions', {});
    expect(seldon.status).toBe(404);
    expect(await seldon.json()).toMatchObject({ status: { reason: 'NOT_FOUND', info: 'no deployment ns/other is being served locally' } });
    const oip = await post('/v2/models/nope/infer', {});
    expect(oip.status).toBe(404);
    expect(await oip.json()).toEqual({ error: 'Model nope not found' });
    const bad = await fetch(`${url}/v2/models/%E0%A4%A/ready`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/must be a valid percent-encoded UTF-8 string/);
  });

  it('leaves paths on no route to the rest of the front door', async () => {
    for (const path of ['/seldon/ns/tiny/api/v1.0/predictions', '/v2x/models/tiny/infer', '/servex/ns/tiny', '/']) {
      expect((await post(path, {})).status, path).toBe(418);
    }
  });

  it('refuses to deploy an artifact whose digest is not the registered one, and keeps serving the previous version', async () => {
    // prepare: version 2's archive, and the digest of other bytes (a swapped artifact)
    const dir = mkdtempSync(join(tmpdir(), 'mlops-digest-'));
    dirs.push(dir);
    const archive = join(dir, 'model.tar.gz');
    writeFileSync(archive, await packModelDir(await writeModelDir(WINE)));
    const registered = createHash('sha256').update(await packModelDir(await writeModelDir(TINY))).digest('hex');
    // act
    const deploy = serving.deploy({ namespace: 'ns', deployment: 'tiny', modelUri: archive, version: '2', expected: { sha256: registered } });
    // assess
    await expect(deploy).rejects.toBeInstanceOf(ArtifactDigestError);
    await expect(deploy).rejects.toThrow(`but the registry recorded ${registered} (mlops.artifact_sha256)`);
    expect(serving.deployments.find((d) => d.deployment === 'tiny')?.version).toBe('1');
  });

  it('refuses a route it cannot serve', () => {
    expect(() => servingRoutes(['/{proxy+}'])).toThrow(/must start with a literal segment, but \/\{proxy\+\} was provided/);
    expect(() => servingRoutes(['/a/{rest+}/b'])).toThrow(/a \{name\+\} only last/);
  });
});

/**
 * The console's pure parts and its server side, without a browser: ASL → graph, history → state
 * runs, Prometheus text → rates and percentiles, each protocol's error shape, the cached build,
 * the static handler (no API route shadowed) and loopback-only CORS.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorFromBody } from '../../lib/console/api/http';
import { delta, histogramQuantile, parsePrometheus, total } from '../../lib/console/api/prometheus';
import type { HistoryEvent } from '../../lib/console/api/sfn-types';
import { aslGraph, END, ruleLabel, START } from '../../lib/console/graph/asl';
import { layoutGraph } from '../../lib/console/graph/layout';
import { stateRuns } from '../../lib/console/graph/status';
import { buildConsole, consoleHandler, consoleKey } from '../../lib/local/console';
import { loopbackCors } from '../../lib/local/cors';

const tmp = mkdtempSync(join(tmpdir(), 'mlops-console-units-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('aslGraph', () => {
  it('marks the states of a Distributed Map as run by its child executions, and an inline Map\'s as its own', () => {
    const map = (mode?: string) => ({
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          End: true,
          ItemProcessor: { ...(mode && { ProcessorConfig: { Mode: mode } }), StartAt: 'Work', States: { Work: { Type: 'Pass', End: true } } },
        },
      },
    });
    expect(aslGraph(map('DISTRIBUTED')).nodes.find((n) => n.id === 'Work')?.childOf).toBe('Each');
    expect(aslGraph(map('INLINE')).nodes.find((n) => n.id === 'Work')?.childOf).toBeUndefined();
    expect(aslGraph(map()).nodes.find((n) => n.id === 'Each')?.childOf).toBeUndefined();
  });

  const definition = {
    StartAt: 'Validate',
    States: {
      Validate: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:1:function:validate', Next: 'Fan out', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Failed' }] },
      'Fan out': {
        Type: 'Parallel',
        Next: 'Each',
        Branches: [
          { StartAt: 'A', States: { A: { Type: 'Pass', End: true } } },
          { StartAt: 'B', States: { B: { Type: 'Task', Resource: 'arn:aws:states:::athena:startQueryExecution.sync', End: true } } },
        ],
      },
      Each: { Type: 'Map', Next: 'Gate', ItemProcessor: { StartAt: 'Item', States: { Item: { Type: 'Pass', End: true } } } },
      Gate: {
        Type: 'Choice',
        Choices: [{ Variable: '$.passed', BooleanEquals: true, Next: 'Done' }],
        Default: 'Failed',
      },
      Done: { Type: 'Succeed' },
      Failed: { Type: 'Fail', Error: 'X' },
    },
  };

  it('draws every state, each transition, Catch edges and Map/Parallel clusters flowing on to Next', () => {
    const g = aslGraph(JSON.stringify(definition));
    expect(g.nodes.map((n) => n.id)).toEqual([START, 'Validate', 'Fan out', 'A', 'B', 'Each', 'Item', 'Gate', 'Done', 'Failed', END]);
    expect(g.nodes.find((n) => n.id === 'B')).toMatchObject({ parent: 'Fan out ⟨2⟩', resource: 'athena:startQueryExecution.sync' });
    expect(g.nodes.find((n) => n.id === 'Validate')?.resource).toBe('λ validate');
    expect(g.clusters.map((c) => c.label)).toEqual(['Fan out: branch 1', 'Fan out: branch 2', 'Each: each item']);
    const edges = g.edges.map((e) => `${e.from} -${e.kind}-> ${e.to}${e.label ? ` [${e.label}]` : ''}`);
    expect(edges).toEqual([
      `${START} -next-> Validate`,
      'Validate -next-> Fan out',
      'Validate -catch-> Failed [catch States.ALL]',
      'Fan out -branch-> A [branch 1]',
      'A -next-> Each',
      'Fan out -branch-> B [branch 2]',
      'B -next-> Each',
      'Each -branch-> Item [each item]',
      'Item -next-> Gate',
      'Gate -choice-> Done [$.passed == true]',
      'Gate -default-> Failed [otherwise]',
      `Done -next-> ${END}`,
    ]);
  });

  it('lays the graph out with every node and edge placed', () => {
    const placed = layoutGraph(aslGraph(definition));
    expect(placed.width).toBeGreaterThan(100);
    for (const n of placed.nodes) expect(Number.isFinite(n.x) && Number.isFinite(n.y)).toBe(true);
    for (const e of placed.edges) expect(e.points.length).toBeGreaterThanOrEqual(2);
    // Clusters enclose their states.
    const b = placed.nodes.find((n) => n.id === 'B')!;
    const box = placed.clusters.find((c) => c.id === 'Fan out ⟨2⟩')!;
    expect(Math.abs(b.x - box.x)).toBeLessThanOrEqual(box.width / 2);
  });

  it('summarizes Choice rules, nested and compared with paths', () => {
    expect(ruleLabel({ And: [{ Variable: '$.a', NumericGreaterThanPath: '$.b' }, { Not: { Variable: '$.c', IsPresent: true } }] })).toBe(
      '$.a > $.b and not $.c present',
    );
    expect(ruleLabel({ Condition: '{% $x > 1 %}' })).toBe('{% $x > 1 %}');
  });

  it('leaves out edges to states a broken definition does not have', () => {
    expect(aslGraph({ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Missing' } } }).edges).toEqual([
      { from: START, to: 'A', kind: 'next' },
    ]);
  });
});

describe('stateRuns', () => {
  let id = 0;
  const ev = (type: string, timestamp: number, details: Record<string, unknown> = {}): HistoryEvent => {
    id++;
    const key = /State(Entered|Exited)$/.test(type) ? (type.endsWith('Entered') ? 'stateEnteredEventDetails' : 'stateExitedEventDetails') : `${type[0]!.toLowerCase()}${type.slice(1)}EventDetails`;
    return { id, timestamp, type, [key]: details };
  };

  it('times each state and keeps its input and output', () => {
    id = 0;
    const runs = stateRuns([
      ev('ExecutionStarted', 0),
      ev('TaskStateEntered', 1, { name: 'A', input: '{"x":1}' }),
      ev('TaskScheduled', 1),
      ev('TaskSucceeded', 3),
      ev('TaskStateExited', 3.5, { name: 'A', output: '{"y":2}' }),
      ev('SucceedStateEntered', 4, { name: 'Done' }),
      ev('ExecutionSucceeded', 4),
    ]);
    expect(runs.get('A')).toMatchObject({ status: 'SUCCEEDED', seconds: 2.5, runs: 1, input: '{"x":1}', output: '{"y":2}' });
    expect(runs.get('Done')?.status).toBe('SUCCEEDED');
  });

  it('tells a caught failure from a retried one and from one that failed the execution', () => {
    id = 0;
    const runs = stateRuns([
      ev('TaskStateEntered', 0, { name: 'Retried' }),
      ev('TaskFailed', 1, { error: 'Lambda.ServiceException' }),
      ev('TaskScheduled', 2),
      ev('TaskSucceeded', 3),
      ev('TaskStateExited', 3, { name: 'Retried' }),
      ev('TaskStateEntered', 3, { name: 'Caught' }),
      ev('TaskFailed', 4, { error: 'DataValidationError', cause: 'too few rows' }),
      ev('TaskStateExited', 4, { name: 'Caught' }),
      ev('TaskStateEntered', 4, { name: 'Fatal' }),
      ev('LambdaFunctionFailed', 5, { error: 'Boom', cause: 'it broke' }),
      ev('ExecutionFailed', 5, { error: 'Boom' }),
    ]);
    expect(runs.get('Retried')?.status).toBe('SUCCEEDED');
    expect(runs.get('Caught')).toMatchObject({ status: 'CAUGHT', error: 'DataValidationError', cause: 'too few rows' });
    expect(runs.get('Fatal')).toMatchObject({ status: 'FAILED', error: 'Boom', cause: 'it broke', seconds: 1 });
  });

  it('counts a state run many times (a Map) and times a running one until now', () => {
    id = 0;
    const runs = stateRuns(
      [
        ev('MapStateEntered', 0, { name: 'Each' }),
        ev('PassStateEntered', 0, { name: 'Item' }),
        ev('PassStateExited', 1, { name: 'Item' }),
        ev('PassStateEntered', 1, { name: 'Item' }),
        ev('PassStateExited', 3, { name: 'Item' }),
      ],
      10,
    );
    expect(runs.get('Item')).toMatchObject({ status: 'SUCCEEDED', runs: 2, seconds: 3 });
    expect(runs.get('Each')).toMatchObject({ status: 'RUNNING', seconds: 10 });
  });
});

describe('Prometheus', () => {
  const scrape = (n: number, fast: number) => `# HELP x
mlops_serving_requests_total{model="m",version="1",protocol="seldon",route="/p",code="200"} ${n}
mlops_serving_requests_total{model="m",version="1",protocol="metrics",route="/metrics",code="200"} 7
mlops_serving_request_duration_seconds_bucket{model="m",version="1",protocol="seldon",route="/p",code="200",le="0.001"} ${fast}
mlops_serving_request_duration_seconds_bucket{model="m",version="1",protocol="seldon",route="/p",code="200",le="0.01"} ${n}
mlops_serving_request_duration_seconds_bucket{model="m",version="1",protocol="seldon",route="/p",code="200",le="+Inf"} ${n}
`;

  it('reads counters by label and percentiles from histogram buckets, over an interval', () => {
    const before = parsePrometheus(scrape(10, 10));
    const after = parsePrometheus(scrape(110, 60));
    expect(total(after, 'mlops_serving_requests_total', { protocol: 'seldon' })).toBe(110);
    const interval = delta(after, before);
    expect(total(interval, 'mlops_serving_requests_total', { protocol: 'seldon' })).toBe(100);
    // 50 of the 100 under 1 ms, the rest under 10 ms: the median is 1 ms, p99 near 10 ms.
    expect(histogramQuantile(interval, 'mlops_serving_request_duration_seconds', 0.5)).toBeCloseTo(0.001, 6);
    expect(histogramQuantile(interval, 'mlops_serving_request_duration_seconds', 0.99)).toBeCloseTo(0.00982, 5);
    expect(histogramQuantile(delta(before, before), 'mlops_serving_request_duration_seconds', 0.5)).toBeUndefined();
  });

  it('unescapes label values and skips malformed lines', () => {
    const [s, ...rest] = parsePrometheus('m{a="x\\"y\\\\z"} 3\nnot a sample\nm 1e3\n');
    expect(s).toEqual({ name: 'm', labels: { a: 'x"y\\z' }, value: 3 });
    expect(rest).toEqual([{ name: 'm', labels: {}, value: 1000 }]);
  });
});

describe('errorFromBody', () => {
  it.each([
    ['mlflow', 404, '{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered Model with name=x not found"}', 'RESOURCE_DOES_NOT_EXIST', 'Registered Model with name=x not found'],
    ['aws', 400, '{"__type":"com.amazonaws.states#InvalidName","message":"Invalid Name: \'a b\'"}', 'InvalidName', "Invalid Name: 'a b'"],
    ['feast', 422, '{"detail":"feature_service must be a string"}', 'HTTP 422', 'feature_service must be a string'],
    ['seldon', 400, '{"status":{"code":-1,"info":"bad shape","reason":"MICROSERVICE_BAD_DATA","status":"FAILURE"}}', 'MICROSERVICE_BAD_DATA', 'bad shape'],
    ['oip', 400, '{"error":"shape [1,3] does not match"}', 'HTTP 400', 'shape [1,3] does not match'],
    ['s3', 404, '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>', 'NoSuchKey', 'The specified key does not exist.'],
    ['gateway', 403, '{"message":"Missing Authentication Token"}', 'HTTP 403', 'Missing Authentication Token'],
    ['aws', 502, 'upstream went away', 'HTTP 502', 'upstream went away'],
  ] as const)('%s %i', (protocol, status, body, code, message) => {
    const e = errorFromBody(protocol, status, body);
    expect([e.protocol, e.status, e.code, e.message]).toEqual([protocol, status, code, message]);
  });
});

describe('buildConsole', () => {
  it('builds once per content of lib/console: a second call reuses the directory, an edit makes a new one', async () => {
    const src = join(tmp, 'src');
    const cache = join(tmp, 'cache');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'styles.css'), 'p { color: red }');
    writeFileSync(join(src, 'main.tsx'), "import { render } from 'preact';\nimport './styles.css';\nrender(<p>one</p>, document.body);\n");
    writeFileSync(join(src, 'index.html'), '<!doctype html><title>t</title>');
    const first = await buildConsole({ sourceDir: src, cacheDir: cache });
    const { readFileSync, statSync } = await import('node:fs');
    const js = readFileSync(join(first, 'console/app.js'), 'utf8');
    expect(js).toContain('one');
    expect(js).not.toMatch(/from ?["']preact["']/); // bundled, nothing left to fetch
    const mtime = statSync(join(first, 'console/app.js')).mtimeMs;
    expect(await buildConsole({ sourceDir: src, cacheDir: cache })).toBe(first);
    expect(statSync(join(first, 'console/app.js')).mtimeMs).toBe(mtime);
    const key = consoleKey(src);
    writeFileSync(join(src, 'main.tsx'), "import { render } from 'preact';\nimport './styles.css';\nrender(<p>two</p>, document.body);\n");
    expect(consoleKey(src)).not.toBe(key);
    const second = await buildConsole({ sourceDir: src, cacheDir: cache });
    expect(second).not.toBe(first);
    expect(readFileSync(join(second, 'console/app.js'), 'utf8')).toContain('two');
  });

  it('fails with a sentence naming the error, leaving nothing half-written', async () => {
    const src = join(tmp, 'broken');
    const cache = join(tmp, 'cache-broken');
    const { mkdirSync, readdirSync } = await import('node:fs');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'main.tsx'), "import { nothing } from './missing';\nnothing();\n");
    writeFileSync(join(src, 'index.html'), '');
    await expect(buildConsole({ sourceDir: src, cacheDir: cache })).rejects.toThrow(/the console could not be built: .*missing/s);
    expect(readdirSync(cache)).toEqual([]);
  });
});

/** A server on loopback running one handler; resolves to its URL. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describe('consoleHandler', () => {
  it('serves the build and config.json, leaves other paths and claimed ones to the gateway', async () => {
    const dir = join(tmp, 'build');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'console'), { recursive: true });
    writeFileSync(join(dir, 'index.html'), '<html>console</html>');
    writeFileSync(join(dir, 'console/app.js'), 'console.log(1)');
    const endpoints = { gateway: '', awsEndpoint: 'http://127.0.0.1:1', s3Endpoint: 'http://127.0.0.1:2', region: 'us-east-1', servingNamespace: 'seldon' };
    let claimed = false;
    const handler = consoleHandler(dir, endpoints, (p) => claimed && p === '/');
    const { url, server } = await serve((req, res) => {
      if (!handler(req, res)) res.writeHead(403).end('gateway');
    });
    try {
      const html = await fetch(`${url}/`);
      expect([html.status, await html.text()]).toEqual([200, '<html>console</html>']);
      expect(html.headers.get('content-security-policy')).toContain('connect-src \'self\' http://127.0.0.1:1 http://127.0.0.1:2');
      expect((await fetch(`${url}/console/app.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(await (await fetch(`${url}/console/config.json`)).json()).toEqual(endpoints);
      expect((await fetch(`${url}/console/app.css`)).status).toBe(403); // not in this build: the gateway answers
      expect((await fetch(`${url}/other`)).status).toBe(403);
      expect((await fetch(`${url}/`, { method: 'POST' })).status).toBe(403);
      claimed = true;
      expect((await fetch(`${url}/`)).status).toBe(403);
    } finally {
      server.close();
    }
  });
});

describe('loopbackCors', () => {
  it('answers loopback origins only, preflights included', async () => {
    const { url, server } = await serve((req, res) => {
      if (loopbackCors(req, res, ['x-amzn-requestid'])) return;
      res.writeHead(200).end('ok');
    });
    try {
      const preflight = await fetch(url, {
        method: 'OPTIONS',
        headers: { origin: 'http://127.0.0.1:8080', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-amz-target' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8080');
      expect(preflight.headers.get('access-control-allow-headers')).toBe('x-amz-target');
      const simple = await fetch(url, { headers: { origin: 'http://localhost:3000' } });
      expect(simple.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      expect(simple.headers.get('access-control-expose-headers')).toBe('x-amzn-requestid');
      for (const origin of ['https://evil.example', 'http://127.0.0.1.evil.example', 'null']) {
        const res = await fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
        expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
        expect(res.status, origin).toBe(200); // not answered as a preflight: the handler's own answer
      }
    } finally {
      server.close();
    }
  });
});

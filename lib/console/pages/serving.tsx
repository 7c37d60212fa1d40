/**
 * Serving: each deployment (a registered model whose version is in Production or holds the
 * `champion` alias: what the promotion rule deploys), the versions it serves and its traffic
 * split, live request rate and latency percentiles from its `/metrics`, and a "try it" form that
 * sends a Seldon v1 or Open Inference Protocol v2 request and shows the answer.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/http';
import { mlflow, type ModelVersion, type RegisteredModel } from '../api/mlflow';
import { delta, histogramQuantile, type Sample } from '../api/prometheus';
import { type OipModelMetadata, serving } from '../api/serving';
import { href } from '../router';
import { EmptyState, ErrorBanner, JsonView, LineChart, StatusBadge, Table, useResource } from '../ui';
import type { PageProps } from './types';

/** Scrape interval of the live charts, and how many points they keep. */
const SCRAPE_MS = 2000;
const WINDOW = 90;
/** The protocols whose requests are predictions (not `/metrics` or health probes). */
const PREDICTION_PROTOCOLS = new Set(['seldon', 'oip']);
const REQUESTS = 'mlops_serving_requests_total';
const DURATION = 'mlops_serving_request_duration_seconds';

interface Deployment {
  readonly model: RegisteredModel;
  /** The versions the registry says are live: Production stage or the champion alias. */
  readonly live: readonly ModelVersion[];
  readonly all: readonly ModelVersion[];
  readonly metadata?: OipModelMetadata;
  readonly metadataError?: unknown;
}

async function loadDeployments(): Promise<Deployment[]> {
  const models = await mlflow.registeredModels();
  const deployments = await Promise.all(
    models.map(async (model): Promise<Deployment | undefined> => {
      const all = await mlflow.versions(model.name);
      const champion = model.aliases?.find((a) => a.alias === 'champion')?.version;
      const live = all.filter((v) => v.current_stage === 'Production' || v.version === champion);
      if (live.length === 0) return undefined;
      // Asked only of models the registry says are deployed, so a healthy page requests nothing that 404s.
      const metadata = await serving.metadata(model.name).then(
        (m): Pick<Deployment, 'metadata' | 'metadataError'> => ({ metadata: m }),
        (e: unknown) => ({ metadataError: e }),
      );
      return { model, live, all, ...metadata };
    }),
  );
  return deployments.filter((d): d is Deployment => d !== undefined);
}

export function ServingPage({ path }: PageProps) {
  const deployments = useResource(loadDeployments, [], { pollMs: 10_000 });
  const list = deployments.data ?? [];
  const chosen = list.find((d) => d.model.name === path[0]) ?? list[0];
  return (
    <section>
      <h1>Serving</h1>
      <ErrorBanner error={deployments.error} title="The registry could not be read" />
      {deployments.data === undefined ? (
        deployments.error ? null : <p class="muted">Loading…</p>
      ) : list.length === 0 ? (
        <EmptyState title="No model is served yet.">
          A model version is served once it is promoted to Production (or given the champion alias). `npm start` trains and
          promotes the wine model; on a platform started with --no-startup, run the training pipeline from{' '}
          <a href={href('pipelines')}>Pipelines</a> and promote a version on <a href={href('models')}>Models</a>.
        </EmptyState>
      ) : (
        <>
          <h2>Deployments</h2>
          <Table
            caption="Deployments"
            rows={list}
            rowKey={(d) => d.model.name}
            rowClass={(d) => (d === chosen ? 'selected' : undefined)}
            columns={[
              {
                key: 'name',
                header: 'Deployment',
                sortValue: (d) => d.model.name,
                render: (d) => (
                  <a href={href('serving', d.model.name)} aria-current={d === chosen ? 'true' : undefined}>
                    seldon/{d.model.name}
                  </a>
                ),
              },
              {
                key: 'status',
                header: 'Status',
                render: (d) => (d.metadata ? <StatusBadge status="READY" label="serving" /> : <StatusBadge status="FAILED" label="not answering" />),
              },
              { key: 'versions', header: 'Serving versions', render: (d) => (d.metadata?.versions ?? []).map((v) => `v${v}`).join(', ') || '–' },
              { key: 'registry', header: 'Registry', render: (d) => d.live.map((v) => `v${v.version} ${v.current_stage ?? ''}${v.aliases?.length ? ` (${v.aliases.join(', ')})` : ''}`).join('; ') },
            ]}
          />
          {chosen ? <DeploymentView key={chosen.model.name} deployment={chosen} /> : null}
        </>
      )}
    </section>
  );
}

interface Point {
  readonly t: number;
  readonly rate: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** Scrapes `/metrics` every {@link SCRAPE_MS} while the view is open; rate and percentiles per interval. */
function useLiveMetrics(deployment: string) {
  const [points, setPoints] = useState<readonly Point[]>([]);
  const [latest, setLatest] = useState<readonly Sample[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const previous = useRef<{ at: number; samples: Sample[] } | undefined>(undefined);
  useEffect(() => {
    let stopped = false;
    const scrape = async () => {
      try {
        const samples = (await serving.metrics(deployment)).filter(
          (s) => !s.labels['protocol'] || PREDICTION_PROTOCOLS.has(s.labels['protocol']),
        );
        if (stopped) return;
        const at = Date.now() / 1000;
        const before = previous.current;
        previous.current = { at, samples };
        setLatest(samples);
        setError(undefined);
        if (!before) return;
        const interval = delta(samples, before.samples);
        const requests = interval.filter((s) => s.name === REQUESTS).reduce((n, s) => n + s.value, 0);
        const ms = (q: number) => {
          const v = histogramQuantile(interval, DURATION, q);
          return v === undefined ? null : v * 1000;
        };
        const point = { t: at, rate: requests / Math.max(at - before.at, 1e-3), p50: ms(0.5), p95: ms(0.95), p99: ms(0.99) };
        setPoints((p) => [...p.slice(-(WINDOW - 1)), point]);
      } catch (e) {
        if (!stopped) setError(e);
      }
    };
    void scrape();
    const timer = setInterval(scrape, SCRAPE_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [deployment]);
  return { points, latest, error };
}

function DeploymentView({ deployment }: { deployment: Deployment }) {
  const name = deployment.model.name;
  const { points, latest, error } = useLiveMetrics(name);
  const x = useMemo(() => points.map((p) => p.t), [points]);
  const rate = useMemo(() => [{ label: 'requests/s', values: points.map((p) => p.rate) }], [points]);
  const latency = useMemo(
    () => [
      { label: 'p50', values: points.map((p) => p.p50) },
      { label: 'p95', values: points.map((p) => p.p95) },
      { label: 'p99', values: points.map((p) => p.p99) },
    ],
    [points],
  );
  // Requests per served version since the server started: the observed split.
  const byVersion = new Map<string, number>();
  for (const s of latest) if (s.name === REQUESTS) byVersion.set(s.labels['version'] ?? '', (byVersion.get(s.labels['version'] ?? '') ?? 0) + s.value);
  const served = deployment.metadata?.versions ?? [];
  const totalRequests = [...byVersion.values()].reduce((a, b) => a + b, 0);
  return (
    <>
      <h2>seldon/{name}</h2>
      <ErrorBanner error={deployment.metadataError} title="The model server did not answer" />
      <div class="split split-reverse">
        <div class="card">
          <h3>Traffic split</h3>
          <Table
            caption={`Traffic split of ${name}`}
            rows={served.map((v) => ({ version: v }))}
            rowKey={(r) => r.version}
            empty={<EmptyState title="No version answers yet." />}
            columns={[
              { key: 'version', header: 'Version', render: (r) => `v${r.version}` },
              // One version serves everything; a canary's configured weights live in the SeldonDeployment,
              // which no public API returns, so with several versions the observed share stands for it.
              { key: 'share', header: 'Traffic', numeric: true, render: () => (served.length === 1 ? '100 %' : '–') },
              {
                key: 'observed',
                header: 'Requests seen',
                numeric: true,
                render: (r) => `${byVersion.get(r.version) ?? 0}${totalRequests ? ` (${Math.round((100 * (byVersion.get(r.version) ?? 0)) / totalRequests)} %)` : ''}`,
              },
            ]}
          />
          <p class="muted">
            Other versions: {deployment.all.filter((v) => !served.includes(v.version)).map((v) => `v${v.version} ${v.current_stage ?? 'None'}`).join(', ') || 'none'}
          </p>
        </div>
        <div class="card" data-testid="live-metrics">
          <h3>Live</h3>
          <ErrorBanner error={error} title="/metrics could not be read" />
          <LineChart title="Prediction requests per second" x={x} series={rate} />
          <LineChart title="Latency (ms)" x={x} series={latency} unit="ms" />
        </div>
      </div>
      <TryIt deployment={name} metadata={deployment.metadata} />
    </>
  );
}

/** The README's example wine (11 features). */
const WINE = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];

function exampleRow(metadata: OipModelMetadata | undefined): number[] {
  const width = metadata?.inputs?.[0]?.shape?.at(-1) ?? WINE.length;
  return width === WINE.length || width < 0 ? WINE : Array.from({ length: width }, () => 0);
}

const exampleBody = (protocol: 'seldon' | 'oip', row: number[]) =>
  JSON.stringify(
    protocol === 'seldon'
      ? { data: { ndarray: [row] } }
      : { inputs: [{ name: 'input-0', shape: [1, row.length], datatype: 'FP64', data: row }] },
  );

function TryIt({ deployment, metadata }: { deployment: string; metadata: OipModelMetadata | undefined }) {
  const [protocol, setProtocol] = useState<'seldon' | 'oip'>('seldon');
  const [body, setBody] = useState(() => exampleBody('seldon', exampleRow(metadata)));
  const [answer, setAnswer] = useState<{ ok: boolean; value: unknown; ms: number } | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const choose = (p: 'seldon' | 'oip') => {
    setProtocol(p);
    setBody(exampleBody(p, exampleRow(metadata)));
    setAnswer(undefined);
  };
  const send = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const started = performance.now();
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      setAnswer({ ok: false, value: new ApiError(protocol, 0, 'InvalidJSON', `The request body must be JSON, but it does not parse: ${(err as Error).message}`), ms: 0 });
      setBusy(false);
      return;
    }
    try {
      const value = protocol === 'seldon' ? await serving.seldonPredict(deployment, parsed) : await serving.oipInfer(deployment, parsed);
      setAnswer({ ok: true, value, ms: performance.now() - started });
    } catch (err) {
      setAnswer({ ok: false, value: err, ms: performance.now() - started });
    } finally {
      setBusy(false);
    }
  };
  const url = protocol === 'seldon' ? serving.seldonUrl(deployment) : serving.oipUrl(deployment);
  return (
    <form class="card" onSubmit={send} aria-labelledby="try-title" style={{ marginTop: '1rem' }}>
      <h3 id="try-title">Try it</h3>
      <fieldset class="row" style={{ border: 'none', padding: 0, margin: '0 0 0.5rem' }}>
        <legend class="visually-hidden">Protocol</legend>
        <label><input type="radio" name="protocol" checked={protocol === 'seldon'} onChange={() => choose('seldon')} /> Seldon v1</label>
        <label><input type="radio" name="protocol" checked={protocol === 'oip'} onChange={() => choose('oip')} /> Open Inference Protocol v2</label>
      </fieldset>
      <p class="muted"><code>POST {new URL(url, location.href).href}</code></p>
      <div class="field">
        <label for="try-body">Request body</label>
        <textarea id="try-body" value={body} spellcheck={false} onInput={(e) => setBody((e.target as HTMLTextAreaElement).value)} />
      </div>
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Sending…' : 'Send'}</button>
      {answer ? (
        <div data-testid="try-answer" data-ok={String(answer.ok)} aria-live="polite">
          <h4>{answer.ok ? `Response (${Math.round(answer.ms)} ms)` : 'Error'}</h4>
          {answer.ok ? <JsonView value={answer.value} label="Response" /> : <ErrorBanner error={answer.value} />}
        </div>
      ) : null}
    </form>
  );
}

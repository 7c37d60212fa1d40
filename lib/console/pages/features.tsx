/**
 * The feature store, from Feast's registry REST listings (`/api/v1/...`) and the feature server:
 * feature views with their schema, TTL and last materialization window, feature services with
 * their projections, and an entity lookup form that calls `/get-online-features` and shows each
 * value with its status. `#/features/<service>` opens the lookup on that service.
 */
import { useState } from 'preact/hooks';
import { feast } from '../api/feast';
import { type FeastFeatureService, type FeastFeatureView, feastRegistry } from '../api/feast-registry';
import { lastWindow, type LookupRow, lookupRows, parseEntityValues, serviceJoinKeys, ttlText } from '../logic/features';
import { EmptyState, ErrorBanner, formatTime, StatusBadge, useResource } from '../ui';
import { TextField } from '../ui/text-field';
import type { PageProps } from './types';

interface Registry {
  readonly project?: string;
  readonly views: FeastFeatureView[];
  readonly services: FeastFeatureService[];
}

async function loadRegistry(): Promise<Registry> {
  const [project] = await feastRegistry.projects();
  if (!project) return { views: [], services: [] };
  const [views, services] = await Promise.all([feastRegistry.featureViews(project), feastRegistry.featureServices(project)]);
  return { project, views, services };
}

export function FeaturesPage({ path }: PageProps) {
  const registry = useResource(loadRegistry, []);
  const r = registry.data;
  return (
    <section>
      <h1>Features</h1>
      <ErrorBanner error={registry.error} title="The feature registry could not be read" />
      {registry.loading && !r ? <p class="muted">Loading…</p> : null}
      {r && r.views.length === 0 ? <EmptyState title="The feature store defines no feature views." /> : null}
      {r && r.views.length > 0 ? (
        <>
          <p class="muted">
            Project <code>{r.project}</code>
          </p>
          <h2>Feature views</h2>
          <div class="cards">
            {r.views.map((v) => (
              <ViewCard key={v.spec.name} view={v} />
            ))}
          </div>
          <h2>Feature services</h2>
          {r.services.length === 0 ? <p class="muted">No feature services.</p> : null}
          <div class="cards">
            {r.services.map((s) => (
              <div class="card" key={s.spec.name} data-service={s.spec.name}>
                <h3>{s.spec.name}</h3>
                {s.spec.description ? <p class="muted">{s.spec.description}</p> : null}
                <ul>
                  {(s.spec.features ?? []).map((p) => (
                    <li key={p.featureViewName}>
                      <code>{p.featureViewName}</code>: {(p.featureColumns ?? []).map((c) => c.name).join(', ') || 'every feature'}
                    </li>
                  ))}
                </ul>
              </div>
            ))}
          </div>
          <Lookup registry={r} initialService={path[0]} />
        </>
      ) : null}
    </section>
  );
}

function ViewCard({ view }: { view: FeastFeatureView }) {
  const w = lastWindow(view);
  const s = view.spec;
  return (
    <div class="card" data-view={s.name}>
      <h3>{s.name}</h3>
      {s.description ? <p class="muted">{s.description}</p> : null}
      <dl>
        <dt>Entities</dt>
        <dd>
          {(s.entityColumns ?? []).map((c) => (
            <code key={c.name}>
              {c.name} ({c.valueType})
            </code>
          ))}
        </dd>
        <dt>TTL</dt>
        <dd data-ttl={s.ttl}>{ttlText(s.ttl)}</dd>
        <dt>Last materialized</dt>
        <dd data-window={w ? `${w.start}/${w.end}` : ''}>
          {w ? `${formatTime(Date.parse(w.start), 'ms')} – ${formatTime(Date.parse(w.end), 'ms')}` : 'never (run the materialization machine)'}
        </dd>
        <dt>Online</dt>
        <dd>{s.online === false ? 'no' : 'yes'}</dd>
      </dl>
      <details>
        <summary>Schema: {(s.features ?? []).length} features</summary>
        <div class="table-wrap" tabIndex={0} role="region" aria-label={`Schema of ${s.name}`}>
          <table>
            <caption class="visually-hidden">Schema of {s.name}</caption>
            <thead>
              <tr>
                <th scope="col">Feature</th>
                <th scope="col">Type</th>
              </tr>
            </thead>
            <tbody>
              {(s.features ?? []).map((f) => (
                <tr key={f.name}>
                  <td>
                    <code>{f.name}</code>
                  </td>
                  <td>{f.valueType}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}

function Lookup({ registry, initialService }: { registry: Registry; initialService?: string }) {
  const services = registry.services;
  const [service, setService] = useState(
    services.find((s) => s.spec.name === initialService)?.spec.name ?? services[0]?.spec.name ?? '',
  );
  const chosen = services.find((s) => s.spec.name === service);
  const keys = chosen ? serviceJoinKeys(chosen, registry.views) : [];
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<{ key: string; message: string } | undefined>(undefined);
  const [result, setResult] = useState<{ rows: LookupRow[]; names: string[] } | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  async function submit() {
    setProblem(undefined);
    setError(undefined);
    const entities: Record<string, (string | number | boolean)[]> = {};
    for (const k of keys) {
      const parsed = parseEntityValues(k.name, k.valueType, texts[k.name] ?? '');
      if ('problem' in parsed) {
        setProblem({ key: k.name, message: parsed.problem });
        document.getElementById(`lookup-${k.name}`)?.focus();
        return;
      }
      entities[k.name] = parsed.values;
    }
    setBusy(true);
    try {
      const res = await feast.getOnlineFeatures({ feature_service: service, entities });
      const names = keys.map((k) => k.name);
      setResult({ rows: lookupRows(res, names), names: res.metadata.feature_names.filter((n) => !names.includes(n)) });
    } catch (e) {
      setResult(undefined);
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  if (services.length === 0) return null;
  return (
    <div class="lookup">
      <h2 id="lookup-title">Entity lookup</h2>
      <form
        class="toolbar"
        aria-labelledby="lookup-title"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <div class="field">
          <label for="lookup-service">Feature service</label>
          <select id="lookup-service" value={service} onChange={(e) => setService((e.target as HTMLSelectElement).value)}>
            {services.map((s) => (
              <option key={s.spec.name} value={s.spec.name}>
                {s.spec.name}
              </option>
            ))}
          </select>
        </div>
        {keys.map((k) => (
          <TextField
            key={k.name}
            id={`lookup-${k.name}`}
            label={`${k.name} (${k.valueType}, comma-separated)`}
            value={texts[k.name] ?? ''}
            placeholder="1, 2"
            onInput={(value) => setTexts({ ...texts, [k.name]: value })}
            error={problem?.key === k.name ? problem.message : undefined}
          />
        ))}
        <button type="submit" class="primary" disabled={busy}>
          Look up
        </button>
      </form>
      <ErrorBanner error={error} title="The feature server refused the lookup" />
      {result ? (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Online feature values, with each value's status">
          <table class="lookup-result">
            <caption class="visually-hidden">Online feature values, with each value's status</caption>
            {/* A feature per row and an entity per column: services have many features and lookups few entities. */}
            <thead>
              <tr>
                <th scope="col">Feature</th>
                {result.rows.map((row) => (
                  <th scope="col" key={row.key} class="num">
                    {row.key}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {result.names.map((feature, i) => (
                <tr key={feature}>
                  <th scope="row">
                    <code>{feature}</code>
                  </th>
                  {result.rows.map((row) => {
                    const c = row.cells[i]!;
                    return (
                      <td key={row.key} class="num" data-feature={feature} data-status={c.status}>
                        {valueText(c.value)} <StatusBadge status={c.status} />
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

// FLOAT features travel as float32 (9.4 arrives as 9.399999618530273): seven significant digits
// are what a float32 holds.
function valueText(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number' && !Number.isInteger(v)) return String(+v.toPrecision(7));
  return String(v);
}

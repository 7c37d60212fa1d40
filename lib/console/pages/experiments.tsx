/**
 * Experiments and runs, from MLflow REST:
 * - `#/experiments`: the experiments;
 * - `#/experiments/<id>?filter=…&sort=<column>&desc=1`: its runs, metrics and params as columns,
 *   MLflow's filter syntax and sort passed to `runs/search` (a refused filter is shown inline in
 *   MLflow's `error_code` and words), runs selectable for comparison;
 * - `#/experiments/<id>/runs/<run>`: a run, one metric history chart per metric (`metrics/get-history`);
 * - `#/experiments/<id>/compare?runs=a,b`: a bar chart per metric and the params side by side.
 */
import { useState } from 'preact/hooks';
import { ApiError } from '../api/http';
import { type Experiment, type Run, tracking } from '../api/tracking';
import {
  cellValue,
  columnId,
  comparison,
  historySeries,
  orderByFor,
  type RunColumn,
  type RunSort,
  runColumns,
} from '../logic/runs';
import { href, hrefWithQuery, navigate } from '../router';
import { BarChart, EmptyState, ErrorBanner, formatDuration, formatTime, LineChart, StatusBadge, useResource } from '../ui';
import { TextField } from '../ui/text-field';
import type { PageProps } from './types';

export function ExperimentsPage({ path, query }: PageProps) {
  const [experimentId, sub, runId] = path;
  if (!experimentId) return <ExperimentList />;
  if (sub === 'runs' && runId) return <RunView experimentId={experimentId} runId={runId} />;
  if (sub === 'compare') return <CompareView experimentId={experimentId} runIds={(query.get('runs') ?? '').split(',').filter(Boolean)} />;
  return <RunsView experimentId={experimentId} query={query} />;
}

function ExperimentList() {
  const experiments = useResource(() => tracking.experiments(), []);
  const list = (experiments.data ?? []).filter((e) => e.lifecycle_stage === 'active');
  return (
    <section>
      <h1>Experiments</h1>
      <ErrorBanner error={experiments.error} title="Experiments could not be listed" />
      {experiments.loading && !experiments.data ? <p class="muted">Loading…</p> : null}
      {/* MLflow's Default experiment (id 0) always exists; only training fills the list. */}
      {experiments.data && list.every((e) => e.experiment_id === DEFAULT_EXPERIMENT_ID) ? (
        <EmptyState title="No model has been trained yet.">
          Training creates one per model: run the training pipeline (<code>npx mlops run training</code>) or start the
          platform without <code>--no-startup</code>.
        </EmptyState>
      ) : null}
      {list.length > 0 ? (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Experiments">
          <table>
            <caption class="visually-hidden">Experiments</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Created</th>
                <th scope="col">Last updated</th>
              </tr>
            </thead>
            <tbody>
              {list.map((e) => (
                <tr key={e.experiment_id}>
                  <td>
                    <a href={href('experiments', e.experiment_id)}>{e.name}</a>
                  </td>
                  <td>{e.experiment_id}</td>
                  <td>{formatTime(e.creation_time, 'ms')}</td>
                  <td>{formatTime(e.last_update_time, 'ms')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

const DEFAULT_EXPERIMENT_ID = '0';

function useExperiment(experimentId: string) {
  return useResource(
    () => tracking.experiments().then((all) => all.find((e) => e.experiment_id === experimentId)),
    [experimentId],
  );
}

function Breadcrumb({ experiment, experimentId, tail }: { experiment?: Experiment; experimentId: string; tail?: string }) {
  return (
    <nav aria-label="Breadcrumb" class="muted">
      <a href={href('experiments')}>Experiments</a> › {tail ? <a href={href('experiments', experimentId)}>{experiment?.name ?? experimentId}</a> : experiment?.name ?? experimentId}
      {tail ? ` › ${tail}` : null}
    </nav>
  );
}

function parseSort(query: URLSearchParams): RunSort | undefined {
  const column = query.get('sort');
  return column ? { column, descending: query.get('desc') === '1' } : undefined;
}

function formatCell(run: Run, column: RunColumn) {
  const v = cellValue(run, column);
  if (column.kind === 'attribute') {
    if (column.key === 'status') return <StatusBadge status={run.info.status === 'FINISHED' ? 'SUCCEEDED' : run.info.status} label={run.info.status.toLowerCase()} />;
    if (column.key === 'start_time') return formatTime(v as number | undefined, 'ms');
    if (column.key === 'duration') return formatDuration(v as number | undefined);
  }
  if (typeof v === 'number') return `${+v.toPrecision(6)}`;
  return v ?? '';
}

function RunsView({ experimentId, query }: { experimentId: string; query: URLSearchParams }) {
  const filter = query.get('filter') ?? '';
  const sort = parseSort(query);
  const experiment = useExperiment(experimentId);
  const runs = useResource(
    () => tracking.searchRuns({ experimentIds: [experimentId], filter, orderBy: orderByFor(sort) }),
    [experimentId, filter, sort?.column, sort?.descending],
  );
  const [draft, setDraft] = useState(filter);
  const [selected, setSelected] = useState<readonly string[]>([]);
  const go = (next: { filter?: string; sort?: RunSort }) =>
    navigate(
      hrefWithQuery('experiments', [experimentId], {
        filter: next.filter ?? filter,
        sort: (next.sort ?? sort)?.column,
        desc: (next.sort ?? sort)?.descending ? '1' : undefined,
      }),
    );
  const list = runs.data ?? [];
  // Client-side order for the one column MLflow has no attribute for.
  const shown =
    sort?.column === 'attribute:duration'
      ? [...list].sort((a, b) => {
          const d = (cellValue(a, DURATION) as number | undefined) ?? Infinity;
          const e = (cellValue(b, DURATION) as number | undefined) ?? Infinity;
          return sort.descending ? e - d : d - e;
        })
      : list;
  const columns = runColumns(list);
  const filterError = runs.error instanceof ApiError && runs.error.protocol === 'mlflow' && runs.error.status < 500 ? runs.error : undefined;
  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  return (
    <section>
      <Breadcrumb experiment={experiment.data} experimentId={experimentId} />
      <h1>Runs of {experiment.data?.name ?? `experiment ${experimentId}`}</h1>
      <form
        class="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go({ filter: draft });
        }}
      >
        <TextField
          id="run-filter"
          label="Filter (MLflow syntax)"
          value={draft}
          placeholder="metrics.rmse < 0.8 and params.alpha = '0.1'"
          onInput={setDraft}
          error={
            filterError ? (
              <>
                <code class="error-code">{filterError.code}</code> {filterError.message}
              </>
            ) : undefined
          }
        />
        <button type="submit">Search</button>
        <button
          type="button"
          class="primary"
          disabled={selected.length < 2}
          onClick={() => navigate(hrefWithQuery('experiments', [experimentId, 'compare'], { runs: selected.join(',') }))}
        >
          Compare {selected.length >= 2 ? `${selected.length} runs` : 'selected runs'}
        </button>
      </form>
      {filterError ? null : <ErrorBanner error={runs.error} title="Runs could not be searched" />}
      {runs.loading && !runs.data ? <p class="muted">Loading…</p> : null}
      {runs.data && list.length === 0 && !runs.error ? (
        <EmptyState title={filter ? 'No run matches the filter.' : 'This experiment has no runs yet.'} />
      ) : null}
      {list.length > 0 ? (
        <div class="table-wrap" tabIndex={0} role="region" aria-label={`Runs, ${list.length} shown`}>
          <table class="runs">
            <caption class="visually-hidden">Runs, {list.length} shown</caption>
            <thead>
              <tr>
                <th scope="col">
                  <span class="visually-hidden">Select for comparison</span>
                </th>
                {columns.map((c) => {
                  const id = columnId(c);
                  const active = sort?.column === id;
                  return (
                    <th key={id} scope="col" class={c.kind === 'metric' ? 'num' : undefined} aria-sort={active ? (sort!.descending ? 'descending' : 'ascending') : undefined}>
                      <button type="button" class="sort" onClick={() => go({ sort: { column: id, descending: active ? !sort!.descending : false } })}>
                        {c.kind === 'attribute' ? c.label : <><span class="muted">{c.kind === 'metric' ? 'metric ' : 'param '}</span>{c.label}</>}
                        <span aria-hidden="true">{active ? (sort!.descending ? ' ▼' : ' ▲') : ''}</span>
                      </button>
                    </th>
                  );
                })}
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => {
                const name = r.info.run_name ?? r.info.run_id;
                return (
                  <tr key={r.info.run_id} class={selected.includes(r.info.run_id) ? 'selected' : undefined} data-run-id={r.info.run_id}>
                    <td>
                      <input type="checkbox" aria-label={`Select ${name}`} checked={selected.includes(r.info.run_id)} onChange={() => toggle(r.info.run_id)} />
                    </td>
                    {columns.map((c) => (
                      <td key={columnId(c)} class={c.kind === 'metric' ? 'num' : undefined}>
                        {c.kind === 'attribute' && c.key === 'run_name' ? (
                          <a href={href('experiments', experimentId, 'runs', r.info.run_id)}>{name}</a>
                        ) : (
                          formatCell(r, c)
                        )}
                      </td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

const DURATION: RunColumn = { kind: 'attribute', key: 'duration', label: 'Duration' };

function RunView({ experimentId, runId }: { experimentId: string; runId: string }) {
  const experiment = useExperiment(experimentId);
  const run = useResource(() => tracking.run(runId), [runId]);
  const keys = (run.data?.data.metrics ?? []).map((m) => m.key);
  const histories = useResource(
    () => Promise.all(keys.map(async (k) => ({ key: k, history: await tracking.metricHistory(runId, k) }))),
    [runId, keys.join('|')],
  );
  const r = run.data;
  const name = r?.info.run_name ?? runId;
  return (
    <section>
      <Breadcrumb experiment={experiment.data} experimentId={experimentId} tail={name} />
      <h1>Run {name}</h1>
      <ErrorBanner error={run.error} title="The run could not be read" />
      {r ? (
        <>
          <dl class="facts">
            <dt>Run id</dt>
            <dd><code>{r.info.run_id}</code></dd>
            <dt>Status</dt>
            <dd>{r.info.status.toLowerCase()}</dd>
            <dt>Started</dt>
            <dd>{formatTime(r.info.start_time, 'ms')}</dd>
            <dt>Duration</dt>
            <dd>{formatDuration(cellValue(r, DURATION) as number | undefined)}</dd>
          </dl>
          <h2>Metrics</h2>
          <ErrorBanner error={histories.error} title="Metric histories could not be read" />
          {keys.length === 0 ? <EmptyState title="This run logged no metrics." /> : null}
          <div class="cards">
            {(histories.data ?? []).map(({ key, history }) => {
              const s = historySeries(history);
              return (
                <div class="card metric-chart" key={key} data-metric={key}>
                  <LineChart title={`${key} by ${s.xLabel}`} x={s.x} series={[{ label: key, values: s.y }]} time={false} />
                  <p class="muted">
                    {s.y.length} {s.y.length === 1 ? 'value' : 'values'}; last {+(s.y.at(-1) ?? NaN).toPrecision(6)}
                    {s.xLabel === 'step' ? ` at step ${s.x.at(-1)}` : ''}
                  </p>
                </div>
              );
            })}
          </div>
          <div class="split">
            <KeyValues title="Parameters" items={r.data.params} />
            <KeyValues title="Tags" items={r.data.tags} />
          </div>
        </>
      ) : null}
    </section>
  );
}

function KeyValues({ title, items }: { title: string; items?: readonly { key: string; value: string }[] }) {
  return (
    <div>
      <h2>{title}</h2>
      {items?.length ? (
        <div class="table-wrap" tabIndex={0} role="region" aria-label={title}>
          <table>
            <caption class="visually-hidden">{title}</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {items.map((i) => (
                <tr key={i.key}>
                  <td><code>{i.key}</code></td>
                  <td style={{ overflowWrap: 'anywhere' }}>{i.value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="muted">None.</p>
      )}
    </div>
  );
}

function CompareView({ experimentId, runIds }: { experimentId: string; runIds: readonly string[] }) {
  const experiment = useExperiment(experimentId);
  const runs = useResource(() => Promise.all(runIds.map((id) => tracking.run(id))), [runIds.join(',')]);
  const c = runs.data ? comparison(runs.data) : undefined;
  return (
    <section>
      <Breadcrumb experiment={experiment.data} experimentId={experimentId} tail="Comparison" />
      <h1>Comparing {runIds.length} runs</h1>
      {runIds.length < 2 ? (
        <EmptyState title="Select two or more runs to compare.">
          <a href={href('experiments', experimentId)}>Back to the runs</a>
        </EmptyState>
      ) : null}
      <ErrorBanner error={runs.error} title="The runs could not be read" />
      {c ? (
        <>
          <h2>Metrics</h2>
          {c.metrics.length === 0 ? <EmptyState title="These runs logged no metrics." /> : null}
          <div class="cards">
            {c.metrics.map((m) => (
              <div class="card compare-chart" key={m.key} data-metric={m.key}>
                <BarChart title={m.key} bars={m.bars} />
              </div>
            ))}
          </div>
          <h2>Parameters</h2>
          {c.params.length === 0 ? (
            <p class="muted">These runs logged no parameters.</p>
          ) : (
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Parameters side by side; rows where runs differ are marked">
              <table class="compare-params">
                <caption class="visually-hidden">Parameters side by side; rows where runs differ are marked</caption>
                <thead>
                  <tr>
                    <th scope="col">Parameter</th>
                    {c.runs.map((r) => (
                      <th scope="col" key={r.id}>
                        <a href={href('experiments', experimentId, 'runs', r.id)}>{r.label}</a>
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {c.params.map((p) => (
                    <tr key={p.key} class={p.differs ? 'selected' : undefined}>
                      <th scope="row">
                        <code>{p.key}</code>
                        {p.differs ? <span class="visually-hidden"> (differs)</span> : null}
                      </th>
                      {p.values.map((v, i) => (
                        <td key={c.runs[i]!.id}>{v ?? '–'}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      ) : null}
    </section>
  );
}

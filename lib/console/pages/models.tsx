/**
 * The model registry, from MLflow REST:
 * - `#/models`: registered models with their latest version per stage and their aliases;
 * - `#/models/<name>`: every version with stage and aliases;
 * - `#/models/<name>/versions/<v>`: a version's lineage (run, data version, feature service, the
 *   source environment of a released version), its baseline and drift report links, and the
 *   stage transition and alias forms, each behind a confirmation dialog.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { config } from '../api/config';
import { lake } from '../api/lake';
import { type ModelVersion, type Run, type Stage, tracking } from '../api/tracking';
import { aliasProblem, curatedBucket, driftReportPrefix, driftReports, lineage, reportHref, stageTargets } from '../logic/models';
import { href } from '../router';
import { ConfirmDialog, EmptyState, ErrorBanner, formatTime, StatusBadge, useResource } from '../ui';
import { TextField } from '../ui/text-field';
import type { PageProps } from './types';

export function ModelsPage({ path }: PageProps) {
  const [name, sub, version] = path;
  if (!name) return <ModelList />;
  if (sub === 'versions' && version) return <VersionView name={name} version={version} />;
  return <ModelView name={name} />;
}

// Long URIs and JSON break anywhere rather than widen the page (set through the CSSOM, which the
// console's Content-Security-Policy allows).
const WRAP = { overflowWrap: 'anywhere' } as const;

const STAGE_TONE: Record<Stage, string> = { None: 'NOT_RUN', Staging: 'RUNNING', Production: 'SUCCEEDED', Archived: 'NOT_RUN' };

function StageBadge({ stage }: { stage: Stage | string }) {
  return <StatusBadge status={STAGE_TONE[stage as Stage] ?? 'NOT_RUN'} label={stage} />;
}

function Aliases({ aliases }: { aliases?: readonly string[] }) {
  if (!aliases?.length) return <span class="muted">–</span>;
  return (
    <>
      {aliases.map((a) => (
        <span class="badge badge-info" key={a} data-alias={a}>
          @{a}
        </span>
      ))}
    </>
  );
}

function ModelList() {
  const models = useResource(() => tracking.models(), []);
  const list = models.data ?? [];
  return (
    <section>
      <h1>Models</h1>
      <ErrorBanner error={models.error} title="Registered models could not be listed" />
      {models.loading && !models.data ? <p class="muted">Loading…</p> : null}
      {models.data && list.length === 0 ? (
        <EmptyState title="No registered models yet.">
          The training pipeline registers a version when its gate passes: <code>npx mlops run training</code>, or start
          the platform without <code>--no-startup</code>.
        </EmptyState>
      ) : null}
      {list.length > 0 ? (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Registered models">
          <table>
            <caption class="visually-hidden">Registered models</caption>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Latest versions</th>
                <th scope="col">Aliases</th>
                <th scope="col">Last updated</th>
              </tr>
            </thead>
            <tbody>
              {list.map((m) => (
                <tr key={m.name} data-model={m.name}>
                  <td>
                    <a href={href('models', m.name)}>{m.name}</a>
                  </td>
                  <td>
                    {(m.latest_versions ?? []).map((v) => (
                      <span key={v.version} class="row-item">
                        <a href={href('models', m.name, 'versions', v.version)}>v{v.version}</a> <StageBadge stage={v.current_stage} />{' '}
                      </span>
                    ))}
                  </td>
                  <td>
                    <Aliases aliases={(m.aliases ?? []).map((a) => `${a.alias} → v${a.version}`)} />
                  </td>
                  <td>{formatTime(m.last_updated_timestamp, 'ms')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function ModelView({ name }: { name: string }) {
  const model = useResource(() => tracking.model(name), [name]);
  const versions = useResource(() => tracking.versions(name), [name]);
  return (
    <section>
      <nav aria-label="Breadcrumb" class="muted">
        <a href={href('models')}>Models</a> › {name}
      </nav>
      <h1>{name}</h1>
      <ErrorBanner error={model.error ?? versions.error} title="The model could not be read" />
      {model.data?.description ? <p>{model.data.description}</p> : null}
      {versions.data && versions.data.length === 0 ? <EmptyState title="This model has no versions." /> : null}
      {versions.data?.length ? <VersionTable name={name} versions={versions.data} /> : null}
    </section>
  );
}

function VersionTable({ name, versions }: { name: string; versions: readonly ModelVersion[] }) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={`Versions of ${name}`}>
      <table>
        <caption class="visually-hidden">Versions of {name}</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Stage</th>
            <th scope="col">Aliases</th>
            <th scope="col">Created</th>
            <th scope="col">Description</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version} data-version={v.version}>
              <td>
                <a href={href('models', name, 'versions', v.version)}>v{v.version}</a>
              </td>
              <td>
                <StageBadge stage={v.current_stage} />
              </td>
              <td>
                <Aliases aliases={v.aliases} />
              </td>
              <td>{formatTime(v.creation_timestamp, 'ms')}</td>
              <td>{v.description ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

type PendingAction =
  | { kind: 'stage'; stage: Stage; archive: boolean }
  | { kind: 'alias'; alias: string };

function VersionView({ name, version }: { name: string; version: string }) {
  const mv = useResource(() => tracking.version(name, version), [name, version]);
  const runId = mv.data?.run_id;
  const run = useResource(() => (runId ? tracking.run(runId) : Promise.resolve(undefined)), [runId]);
  const [pending, setPending] = useState<PendingAction | undefined>(undefined);
  const [actionError, setActionError] = useState<unknown>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const v = mv.data;

  async function confirm() {
    const action = pending;
    setPending(undefined);
    if (!action) return;
    setActionError(undefined);
    try {
      if (action.kind === 'stage') {
        await tracking.transitionStage({ name, version, stage: action.stage, archiveExistingVersions: action.archive });
        setDone(`Version ${version} moved to ${action.stage}.`);
      } else {
        await tracking.setAlias({ name, alias: action.alias, version });
        setDone(`Alias @${action.alias} now points at version ${version}.`);
      }
      mv.reload();
    } catch (e) {
      setActionError(e);
    }
  }

  return (
    <section>
      <nav aria-label="Breadcrumb" class="muted">
        <a href={href('models')}>Models</a> › <a href={href('models', name)}>{name}</a> › v{version}
      </nav>
      <h1>
        {name} v{version}
      </h1>
      <ErrorBanner error={mv.error} title="The version could not be read" />
      {v ? (
        <>
          <p>
            Stage <StageBadge stage={v.current_stage} /> · aliases <Aliases aliases={v.aliases} />
          </p>
          {v.description ? <p class="muted">{v.description}</p> : null}
          <div class="split">
            <Lineage version={v} run={run.data} runError={run.error} />
            <div>
              <h2>Change</h2>
              {done ? (
                <p role="status">
                  <StatusBadge status="SUCCEEDED" label="done" /> {done}
                </p>
              ) : null}
              <ErrorBanner error={actionError} title="The registry refused" />
              <StageForm current={v.current_stage} onSubmit={(stage, archive) => setPending({ kind: 'stage', stage, archive })} />
              <AliasForm onSubmit={(alias) => setPending({ kind: 'alias', alias })} />
            </div>
          </div>
          <Reports name={name} version={v} />
        </>
      ) : null}
      <ConfirmDialog
        open={pending !== undefined}
        title={pending?.kind === 'alias' ? 'Set alias' : 'Transition stage'}
        confirmLabel={pending?.kind === 'alias' ? 'Set alias' : 'Transition'}
        onConfirm={() => void confirm()}
        onCancel={() => setPending(undefined)}
      >
        {pending?.kind === 'stage' ? (
          <p>
            Move <strong>{name}</strong> version {version} from {v?.current_stage} to <strong>{pending.stage}</strong>
            {pending.archive ? `, archiving the other versions in ${pending.stage}` : ''}?
          </p>
        ) : pending?.kind === 'alias' ? (
          <p>
            Point alias <strong>@{pending.alias}</strong> of {name} at version {version}? If it points at another version now, it moves.
          </p>
        ) : null}
      </ConfirmDialog>
    </section>
  );
}

function StageForm({ current, onSubmit }: { current: Stage; onSubmit: (stage: Stage, archive: boolean) => void }) {
  const targets = stageTargets(current);
  const [stage, setStage] = useState<Stage>(targets[0]!);
  const [archive, setArchive] = useState(false);
  const target = targets.includes(stage) ? stage : targets[0]!;
  return (
    <form
      class="toolbar"
      aria-label="Transition stage"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(target, archive && (target === 'Staging' || target === 'Production'));
      }}
    >
      <div class="field">
        <label for="stage-target">Move to stage</label>
        <select id="stage-target" value={target} onChange={(e) => setStage((e.target as HTMLSelectElement).value as Stage)}>
          {targets.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      {target === 'Staging' || target === 'Production' ? (
        <label>
          <input type="checkbox" checked={archive} onChange={(e) => setArchive((e.target as HTMLInputElement).checked)} /> archive
          the other versions in {target}
        </label>
      ) : null}
      <button type="submit">Transition…</button>
    </form>
  );
}

function AliasForm({ onSubmit }: { onSubmit: (alias: string) => void }) {
  const [alias, setAlias] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  return (
    <form
      class="toolbar"
      aria-label="Set alias"
      onSubmit={(e) => {
        e.preventDefault();
        const p = aliasProblem(alias.trim());
        setProblem(p);
        if (!p) onSubmit(alias.trim());
      }}
    >
      <TextField id="alias-name" label="Alias" value={alias} placeholder="champion" onInput={setAlias} error={problem} />
      <button type="submit">Set alias…</button>
    </form>
  );
}

function Lineage({ version, run, runError }: { version: ModelVersion; run?: Run; runError: unknown }) {
  const l = lineage(version, run);
  const rows: [string, ComponentChildren][] = [];
  if (l.runId) {
    rows.push([
      'Run',
      l.experimentId ? <a href={href('experiments', l.experimentId, 'runs', l.runId)}>{run?.info.run_name ?? l.runId}</a> : <code>{l.runId}</code>,
    ]);
  }
  if (l.execution) rows.push(['Pipeline execution', <code>{l.execution}</code>]);
  if (l.dataset) rows.push(['Dataset', <code>{l.dataset}</code>]);
  if (l.dataVersion) rows.push(['Data version', <code style={WRAP}>{l.dataVersion}</code>]);
  if (l.featureService) rows.push(['Feature service', <a href={href('features', l.featureService)}>{l.featureService}</a>]);
  if (l.source) {
    rows.push([
      'Released from',
      <>
        {l.source.environment}
        {l.source.version ? ` v${l.source.version}` : ''}
        {l.source.runId ? <> (run <code>{l.source.runId}</code>)</> : null}
      </>,
    ]);
  }
  if (l.artifactSha256) rows.push(['Artifact SHA-256', <code style={WRAP}>{l.artifactSha256}</code>]);
  if (version.source) rows.push(['Artifact', <code style={WRAP}>{version.source}</code>]);
  return (
    <div>
      <h2>Lineage</h2>
      <ErrorBanner error={runError} title="The version's run could not be read" />
      {rows.length === 0 ? (
        <p class="muted">Nothing records where this version came from.</p>
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Lineage">
          <table class="lineage">
            <caption class="visually-hidden">Lineage</caption>
            <tbody>
              {rows.map(([k, value]) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td>{value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function ReportLink({ label, uri }: { readonly label: string; readonly uri: string }) {
  const link = reportHref(uri, config().s3Endpoint);
  return (
    <li>
      {label}: {link ? <a href={link}>{uri}</a> : <code style={WRAP}>{uri}</code>}
    </li>
  );
}

function Reports({ name, version }: { name: string; version: ModelVersion }) {
  const l = lineage(version, undefined);
  const reports = useResource(async () => {
    if (!config().s3Endpoint) return undefined;
    const bucket = curatedBucket(await lake.buckets());
    if (!bucket) return undefined;
    return { bucket, reports: driftReports(await lake.keys(bucket, driftReportPrefix(name))) };
  }, [name]);
  const found = reports.data?.reports ?? [];
  return (
    <div>
      <h2>Baseline and drift</h2>
      {l.baselineUri ? (
        <ul>
          <ReportLink label="Training baseline" uri={l.baselineUri} />
        </ul>
      ) : (
        <p class="muted">No baseline is recorded for this version (tag <code>mlops.baseline_uri</code>).</p>
      )}
      <ErrorBanner error={reports.error} title="Drift reports could not be listed" />
      {found.length > 0 ? (
        <ul class="drift-reports">
          {found.slice(0, 20).map((r) => (
            <ReportLink key={r.key} label={`Drift report (${r.kind.toUpperCase()})`} uri={`s3://${reports.data!.bucket}/${r.key}`} />
          ))}
        </ul>
      ) : reports.loading ? null : (
        <EmptyState title="No drift report for this model yet.">
          The drift machine writes its reports under <code>{driftReportPrefix(name)}</code> in the lake's curated zone; they
          are listed here once one exists.
        </EmptyState>
      )}
    </div>
  );
}

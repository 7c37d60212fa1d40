/**
 * Pipelines: every state machine (`#/pipelines`), one machine with its graph, executions and a
 * start form (`#/pipelines/<machine arn>`), and one execution coloured by state with each state's
 * time, input, output and error, polled while it runs (`#/pipelines/<machine arn>/<execution arn>`).
 * Everything comes from Step Functions' API.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/http';
import { type ExecutionDescription, type ExecutionListItem, type ExecutionStatus, sfn } from '../api/sfn';
import { aslGraph } from '../graph/asl';
import { documentedInput } from '../graph/inputs';
import { StateGraphView } from '../graph/state-graph';
import { type StateRun, stateRuns } from '../graph/status';
import { href, hrefWithQuery, navigate } from '../router';
import { arnName, type Column, EmptyState, ErrorBanner, formatDuration, formatTime, JsonView, readableCause, StatusBadge, Table, useResource } from '../ui';
import type { PageProps } from './types';

/** How often a running execution and the executions list are read again. */
const POLL_MS = 1000;
const STATUSES: readonly ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

export function PipelinesPage({ path, query }: PageProps) {
  if (path.length === 0) return <Machines />;
  if (path.length === 1) return <Machine arn={path[0]!} query={query} />;
  return <Execution machineArn={path[0]!} executionArn={path[1]!} />;
}

const duration = (e: { startDate: number; stopDate?: number }) =>
  ((e.stopDate ?? Date.now() / 1000) - e.startDate) * 1000;

function Machines() {
  const machines = useResource(async () => {
    const list = await sfn.listStateMachines();
    // The latest execution of each, for the overview.
    return Promise.all(
      list.map(async (m) => ({ ...m, executions: await sfn.listExecutions(m.stateMachineArn).catch(() => []) })),
    );
  }, [], { pollMs: 3000 });
  return (
    <section>
      <h1>Pipelines</h1>
      <ErrorBanner error={machines.error} title="Step Functions could not be read" />
      {machines.data === undefined ? (
        machines.error ? null : <p class="muted">Loading…</p>
      ) : machines.data.length === 0 ? (
        <EmptyState title="No state machines.">The stage declares none; `cdk synth` shows what the stacks define.</EmptyState>
      ) : (
        <Table
          caption="State machines"
          rows={machines.data}
          rowKey={(m) => m.stateMachineArn}
          columns={[
            { key: 'name', header: 'State machine', sortValue: (m) => m.name, render: (m) => <a href={href('pipelines', m.stateMachineArn)}>{m.name}</a> },
            { key: 'type', header: 'Type', render: (m) => m.type },
            { key: 'runs', header: 'Executions', numeric: true, sortValue: (m) => m.executions.length, render: (m) => m.executions.length },
            {
              key: 'last',
              header: 'Latest execution',
              render: (m) => {
                const last = [...m.executions].sort((a, b) => b.startDate - a.startDate)[0];
                return last ? (
                  <span>
                    <StatusBadge status={last.status} />{' '}
                    <a href={href('pipelines', m.stateMachineArn, last.executionArn)}>{last.name}</a>{' '}
                    <span class="muted">{formatTime(last.startDate)}</span>
                  </span>
                ) : (
                  <span class="muted">none yet</span>
                );
              },
            },
          ]}
        />
      )}
    </section>
  );
}

function Machine({ arn, query }: { arn: string; query: URLSearchParams }) {
  const description = useResource(() => sfn.describeStateMachine(arn), [arn]);
  const statusFilter = (query.get('status') ?? '') as ExecutionStatus | '';
  const nameFilter = query.get('q') ?? '';
  const executions = useResource(() => sfn.listExecutions(arn), [arn], { pollMs: 2000 });
  const graph = useMemo(() => (description.data ? aslGraph(description.data.definition) : undefined), [description.data]);
  const name = description.data?.name ?? arnName(arn);
  const filter = (changes: Record<string, string>) =>
    navigate(hrefWithQuery('pipelines', [arn], { status: statusFilter, q: nameFilter, ...changes }));
  const shown = (executions.data ?? []).filter(
    (e) => (!statusFilter || e.status === statusFilter) && (!nameFilter || e.name.toLowerCase().includes(nameFilter.toLowerCase())),
  );
  const columns: Column<ExecutionListItem>[] = [
    { key: 'name', header: 'Execution', sortValue: (e) => e.name, render: (e) => <a href={href('pipelines', arn, e.executionArn)}>{e.name}</a> },
    { key: 'status', header: 'Status', sortValue: (e) => e.status, render: (e) => <StatusBadge status={e.status} /> },
    { key: 'start', header: 'Started', sortValue: (e) => e.startDate, render: (e) => formatTime(e.startDate) },
    { key: 'duration', header: 'Duration', numeric: true, sortValue: duration, render: (e) => formatDuration(duration(e)) },
  ];
  return (
    <section>
      <p><a href={href('pipelines')}>← All pipelines</a></p>
      <h1>{name}</h1>
      <ErrorBanner error={description.error} title="The state machine could not be read" />
      <div class="split">
        <div>
          <h2>Executions</h2>
          <div class="toolbar" role="search">
            <label>
              Status{' '}
              <select value={statusFilter} onChange={(e) => filter({ status: (e.target as HTMLSelectElement).value })}>
                <option value="">any</option>
                {STATUSES.map((s) => <option key={s} value={s}>{s.toLowerCase().replace(/_/g, ' ')}</option>)}
              </select>
            </label>
            <label>
              Name contains{' '}
              <input type="search" value={nameFilter} onInput={(e) => filter({ q: (e.target as HTMLInputElement).value })} />
            </label>
          </div>
          <ErrorBanner error={executions.error} title="Executions could not be listed" />
          {executions.data === undefined ? null : (
            <Table
              caption={`Executions of ${name}`}
              rows={shown}
              rowKey={(e) => e.executionArn}
              columns={columns}
              initialSort={{ key: 'start', descending: true }}
              empty={
                <EmptyState title={executions.data.length === 0 ? 'No executions yet.' : 'No execution matches the filter.'}>
                  {executions.data.length === 0 ? 'Start one with the form.' : null}
                </EmptyState>
              }
            />
          )}
          <StartForm machineArn={arn} machineName={name} />
        </div>
        <div>
          <h2>Definition</h2>
          {graph ? <StateGraphView graph={graph} title={`States of ${name}`} /> : null}
        </div>
      </div>
    </section>
  );
}

function StartForm({ machineArn, machineName }: { machineArn: string; machineName: string }) {
  const documented = documentedInput(machineName);
  const [input, setInput] = useState(() => JSON.stringify(documented.input, null, 2));
  // This platform's names in place of the placeholders, unless the person has typed already.
  const typed = useRef(false);
  useEffect(() => {
    documented.resolve?.().then(
      (resolved) => typed.current || setInput(JSON.stringify(resolved, null, 2)),
      () => undefined, // the documented placeholders stay
    );
  }, [machineArn]);
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      // Sent as typed: Step Functions' own validation answers (InvalidExecutionInput, InvalidName, …).
      const started = await sfn.startExecution(machineArn, input, name.trim() || undefined);
      navigate(href('pipelines', machineArn, started.executionArn));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const errorId = 'start-error';
  const field = error instanceof ApiError && error.code === 'InvalidName' ? 'name' : 'input';
  return (
    <form class="card" onSubmit={submit} aria-labelledby="start-title" style={{ marginTop: '1rem' }}>
      <h2 id="start-title">Start an execution</h2>
      <div class="field">
        <label for="start-input">Input (JSON)</label>
        {documented.fields ? <span class="muted" id="start-fields">{documented.fields}</span> : null}
        <textarea
          id="start-input"
          value={input}
          spellcheck={false}
          aria-invalid={error !== undefined && field === 'input'}
          aria-describedby={[documented.fields ? 'start-fields' : '', error && field === 'input' ? errorId : ''].filter(Boolean).join(' ') || undefined}
          onInput={(e) => {
            typed.current = true;
            setInput((e.target as HTMLTextAreaElement).value);
          }}
        />
      </div>
      <div class="field">
        <label for="start-name">Name (optional)</label>
        <input
          id="start-name"
          value={name}
          aria-invalid={error !== undefined && field === 'name'}
          aria-describedby={error && field === 'name' ? errorId : undefined}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
      </div>
      {error ? (
        <p class="field-error" id={errorId} role="alert">
          {error instanceof ApiError ? <code>{error.code}</code> : null} {(error as Error).message}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Starting…' : 'Start execution'}</button>
    </form>
  );
}

function Execution({ machineArn, executionArn }: { machineArn: string; executionArn: string }) {
  const machine = useResource(() => sfn.describeStateMachine(machineArn), [machineArn]);
  const execution = useResource(
    async () => {
      const [description, history] = await Promise.all([sfn.describeExecution(executionArn), sfn.getExecutionHistory(executionArn)]);
      return { description, runs: stateRuns(history) };
    },
    [executionArn],
    { pollMs: POLL_MS, while: (d) => !d || d.description.status === 'RUNNING' },
  );
  const graph = useMemo(() => (machine.data ? aslGraph(machine.data.definition) : undefined), [machine.data]);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const d: ExecutionDescription | undefined = execution.data?.description;
  const runs = execution.data?.runs;
  const run = selected ? runs?.get(selected) : undefined;
  return (
    <section>
      <p><a href={href('pipelines', machineArn)}>← {machine.data?.name ?? arnName(machineArn)}</a></p>
      <h1>{arnName(executionArn)}</h1>
      <ErrorBanner error={execution.error ?? machine.error} title="The execution could not be read" />
      {d ? (
        <p class="toolbar" data-testid="execution-status" data-status={d.status}>
          <StatusBadge status={d.status} />
          <span>started {formatTime(d.startDate)}</span>
          <span>{d.status === 'RUNNING' ? 'running for' : 'took'} {formatDuration(duration(d))}</span>
          {d.status === 'RUNNING' ? <span class="muted" aria-live="polite">updating every second</span> : null}
        </p>
      ) : null}
      {d?.error ? (
        <div class="error-banner" role="alert" data-testid="execution-error">
          <code class="error-code">{d.error}</code> {readableCause(d.cause)}
        </div>
      ) : null}
      <div class="split">
        <div>
          {graph && runs ? (
            <>
              <StateGraphView graph={graph} title={`States of ${arnName(executionArn)}`} runs={runs} selected={selected} onSelect={setSelected} />
              <p class="legend" aria-hidden="true">
                <StatusBadge status="SUCCEEDED" /> <StatusBadge status="RUNNING" /> <StatusBadge status="FAILED" />
                <StatusBadge status="CAUGHT" /> <StatusBadge status="NOT_RUN" label="not run" />
              </p>
            </>
          ) : null}
        </div>
        <div>
          {run ? <StateDetails run={run} /> : selected ? (
            <EmptyState title={`${selected} has not run in this execution.`} />
          ) : (
            <EmptyState title="Select a state">Click a state in the graph (or Tab to it and press Enter) to see its input, output and error.</EmptyState>
          )}
          {d ? (
            <>
              <h2>Execution input</h2>
              <JsonView value={d.input ?? '{}'} label="Execution input" />
              {d.output ? (
                <>
                  <h2>Execution output</h2>
                  <JsonView value={d.output} label="Execution output" />
                </>
              ) : null}
            </>
          ) : null}
        </div>
      </div>
    </section>
  );
}

function StateDetails({ run }: { run: StateRun }) {
  return (
    <div class="card" data-testid="state-details">
      <h2>{run.name}</h2>
      <p class="toolbar">
        <StatusBadge status={run.status} />
        <span>{formatDuration(run.seconds * 1000)}</span>
        {run.runs > 1 ? <span>{run.runs} runs</span> : null}
      </p>
      {run.error ? (
        <div class="error-banner" role="alert">
          <code class="error-code">{run.error}</code> {readableCause(run.cause)}
        </div>
      ) : null}
      <h3>Input</h3>
      <JsonView value={run.input ?? 'null'} label={`Input of ${run.name}`} />
      <h3>Output</h3>
      <JsonView value={run.output ?? 'null'} label={`Output of ${run.name}`} />
    </div>
  );
}

/**
 * A state machine's definition (Amazon States Language) as a graph to draw: a node per state, an
 * edge per transition — `Next`, each Choice rule and the `Default`, each `Catch` — and a cluster
 * per Map iterator and Parallel branch, whose states flow on to the Map's or Parallel's `Next`.
 * Pure (no DOM), so it is unit-tested beside the browser tests.
 *
 * @example
 * const graph = aslGraph(JSON.parse(description.definition));
 * graph.nodes.map((n) => n.id); // ['Start', 'Validate data', …, 'End']
 */

export type NodeKind = 'start' | 'end' | 'state';
export type EdgeKind = 'next' | 'choice' | 'default' | 'catch' | 'branch';

export interface GraphNode {
  readonly id: string;
  readonly label: string;
  /** The ASL state type (`Task`, `Choice`, …), or `Start`/`End`. */
  readonly type: string;
  readonly kind: NodeKind;
  /** The cluster (Map iterator, Parallel branch) holding the state. */
  readonly parent?: string;
  /**
   * The Distributed Map state whose child executions run this state: the parent execution's
   * history has no events of it, so it shows that Map's status.
   */
  readonly childOf?: string;
  readonly comment?: string;
  /** What a Task calls: a Lambda function's name or a service integration (`athena:startQueryExecution.sync`). */
  readonly resource?: string;
}

export interface GraphCluster {
  readonly id: string;
  readonly label: string;
  readonly parent?: string;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
  readonly label?: string;
}

export interface StateGraph {
  readonly nodes: readonly GraphNode[];
  readonly clusters: readonly GraphCluster[];
  readonly edges: readonly GraphEdge[];
}

export const START = '⟨start⟩';
export const END = '⟨end⟩';

interface AslState {
  readonly Type?: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Comment?: string;
  readonly Resource?: string;
  readonly Choices?: readonly Record<string, unknown>[];
  readonly Catch?: readonly { ErrorEquals?: readonly string[]; Next?: string }[];
  readonly Branches?: readonly AslMachine[];
  readonly Iterator?: AslMachine;
  readonly ItemProcessor?: AslMachine & { readonly ProcessorConfig?: { readonly Mode?: string } };
}

interface AslMachine {
  readonly StartAt?: string;
  readonly States?: Readonly<Record<string, AslState>>;
}

/** Reads a definition (object or JSON string) into nodes, clusters and edges. */
export function aslGraph(definition: unknown): StateGraph {
  const machine = (typeof definition === 'string' ? JSON.parse(definition) : definition) as AslMachine;
  const nodes: GraphNode[] = [{ id: START, label: 'Start', type: 'Start', kind: 'start' }];
  const clusters: GraphCluster[] = [];
  const edges: GraphEdge[] = [];

  const addMachine = (m: AslMachine, parent: string | undefined, exit: string | undefined, childOf?: string) => {
    for (const [name, state] of Object.entries(m.States ?? {})) {
      nodes.push({
        id: name,
        label: name,
        type: state.Type ?? 'Task',
        kind: 'state',
        ...(parent ? { parent } : {}),
        ...(childOf ? { childOf } : {}),
        ...(state.Comment ? { comment: state.Comment } : {}),
        ...(state.Resource ? { resource: resourceName(state.Resource) } : {}),
      });
      // Where the state goes when it is done: its Next, or out of its branch when it ends one.
      const after = state.Next ?? (state.End || state.Type === 'Succeed' ? exit : undefined);
      const inner = [...(state.Branches ?? []), ...(state.ItemProcessor ?? state.Iterator ? [(state.ItemProcessor ?? state.Iterator)!] : [])];
      if (inner.length > 0) {
        inner.forEach((branch, i) => {
          const id = `${name} ⟨${i + 1}⟩`;
          const label = state.Type === 'Map' ? `${name}: each item` : `${name}: branch ${i + 1}`;
          clusters.push({ id, label, ...(parent ? { parent } : {}) });
          if (branch.StartAt) edges.push({ from: name, to: branch.StartAt, kind: 'branch', label: state.Type === 'Map' ? 'each item' : `branch ${i + 1}` });
          const distributed = state.ItemProcessor?.ProcessorConfig?.Mode === 'DISTRIBUTED';
          addMachine(branch, id, after, distributed ? name : childOf);
        });
      } else if (state.Type === 'Choice') {
        for (const rule of state.Choices ?? []) {
          const next = rule['Next'];
          if (typeof next === 'string') edges.push({ from: name, to: next, kind: 'choice', label: ruleLabel(rule) });
        }
        if (state.Default) edges.push({ from: name, to: state.Default, kind: 'default', label: 'otherwise' });
      } else if (after && state.Type !== 'Fail') {
        edges.push({ from: name, to: after, kind: 'next' });
      }
      for (const c of state.Catch ?? []) {
        if (c.Next) edges.push({ from: name, to: c.Next, kind: 'catch', label: `catch ${(c.ErrorEquals ?? []).join(', ')}` });
      }
    }
  };

  if (machine.StartAt) edges.push({ from: START, to: machine.StartAt, kind: 'next' });
  addMachine(machine, undefined, END);
  nodes.push({ id: END, label: 'End', type: 'End', kind: 'end' });
  // Edges to states the definition does not have (a broken definition) are left out, not drawn to nowhere.
  const ids = new Set(nodes.map((n) => n.id));
  return { nodes, clusters, edges: edges.filter((e) => ids.has(e.from) && ids.has(e.to)) };
}

/** `arn:aws:states:::athena:startQueryExecution.sync` → `athena:startQueryExecution.sync`; a function ARN → its name. */
function resourceName(resource: string): string {
  const integration = /^arn:aws[a-z-]*:states:::(.+)$/.exec(resource);
  if (integration) return integration[1]!;
  const fn = /:function:([^:]+)/.exec(resource);
  return fn ? `λ ${fn[1]}` : resource;
}

const OPERATORS: Record<string, string> = {
  StringEquals: '==',
  NumericEquals: '==',
  BooleanEquals: '==',
  TimestampEquals: '==',
  NumericLessThan: '<',
  NumericLessThanEquals: '<=',
  NumericGreaterThan: '>',
  NumericGreaterThanEquals: '>=',
  StringLessThan: '<',
  StringGreaterThan: '>',
  TimestampLessThan: '<',
  TimestampGreaterThan: '>',
  IsPresent: 'present',
  IsNull: 'null',
  StringMatches: 'matches',
};

/** A Choice rule in a few words: `$.gate.passed == true`, `not (…)`, `a and b`. */
export function ruleLabel(rule: Record<string, unknown>, depth = 0): string {
  const text = (() => {
    if (typeof rule['Condition'] === 'string') return rule['Condition'];
    const and = rule['And'] as Record<string, unknown>[] | undefined;
    const or = rule['Or'] as Record<string, unknown>[] | undefined;
    const not = rule['Not'] as Record<string, unknown> | undefined;
    if (and) return and.map((r) => ruleLabel(r, depth + 1)).join(' and ');
    if (or) return or.map((r) => ruleLabel(r, depth + 1)).join(' or ');
    if (not) return `not ${ruleLabel(not, depth + 1)}`;
    const variable = String(rule['Variable'] ?? '');
    for (const [key, value] of Object.entries(rule)) {
      const op = key.replace(/Path$/, '');
      if (OPERATORS[op]) {
        const shown = key.endsWith('Path') ? String(value) : JSON.stringify(value);
        return op === 'IsPresent' || op === 'IsNull' ? `${variable} ${value ? '' : 'not '}${OPERATORS[op]}` : `${variable} ${OPERATORS[op]} ${shown}`;
      }
    }
    return 'rule';
  })();
  return depth === 0 && text.length > 48 ? `${text.slice(0, 47)}…` : text;
}

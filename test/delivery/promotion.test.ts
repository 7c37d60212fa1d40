/**
 * The infrastructure promotion check: staging's and production's templates differ only where
 * `INTENDED_DIFFERENCES` (intended-differences.ts) says they do, each entry naming the config key
 * that decides it. A stack, a resource or a property value in one environment and not the other
 * fails the test unless listed, and a listed difference that no longer occurs fails it too, so the
 * list stays the true account of what promotion changes.
 */
import { describe, expect, it } from 'vitest';
import { synthAll } from '../infra/synth';
import { INTENDED_DIFFERENCES, type IntendedDifference } from './intended-differences';
import { type Difference, templateDifferences } from './template-diff';

const environments = synthAll();
const differences = templateDifferences(
  { name: 'staging', templates: environments.staging.templates },
  { name: 'production', templates: environments.production.templates },
);

/** Array indices do not matter to an entry: `Rules[2].Transitions` is `Rules.Transitions`. */
const plain = (path: string) => path.replace(/\[\d+\]/g, '');

function matches(entry: IntendedDifference, d: Difference): boolean {
  if (d.kind === 'stack-only-in') return false;
  if (entry.stack !== undefined && entry.stack !== d.stack) return false;
  if (d.kind === 'output-only-in') {
    return entry.type === 'output' && entry.onlyIn === d.env && (entry.pathIncludes === undefined || d.output.includes(entry.pathIncludes));
  }
  if (entry.type !== '*' && entry.type !== d.type) return false;
  if (d.kind === 'resource-only-in') {
    return entry.onlyIn === d.env && (entry.pathIncludes === undefined || d.path.includes(entry.pathIncludes));
  }
  if (entry.property === undefined) return false;
  const path = plain(d.path);
  return path === entry.property || path.startsWith(`${entry.property}.`);
}

const describeDifference = (d: Difference): string =>
  d.kind === 'stack-only-in'
    ? `stack ${d.stack} only in ${d.env}`
    : d.kind === 'output-only-in'
      ? `${d.stack}: output ${d.output} only in ${d.env}`
      : d.kind === 'resource-only-in'
        ? `${d.stack}: ${d.type} only in ${d.env} (${d.path})`
        : `${d.stack}: ${d.type} ${d.logicalId} differs at ${d.path}`;

describe('staging and production differ only where the config says', () => {
  it('synthesizes the same stacks in both', () => {
    expect(differences.filter((d) => d.kind === 'stack-only-in').map(describeDifference)).toEqual([]);
    expect(Object.keys(environments.production.templates).sort()).toEqual(Object.keys(environments.staging.templates).sort());
  });

  it('finds differences at all (the comparison is not blind)', () => {
    expect(differences.length).toBeGreaterThan(50);
  });

  it('has no difference the list does not name', () => {
    const unlisted = differences.filter((d) => !INTENDED_DIFFERENCES.some((e) => matches(e, d)));
    expect(unlisted.map(describeDifference), 'unintended differences: fix the stacks, or add an entry with its config key and reason').toEqual([]);
  });

  it('lists no difference that no longer occurs', () => {
    const stale = INTENDED_DIFFERENCES.filter((e) => !differences.some((d) => matches(e, d)));
    expect(stale.map((e) => `${e.stack ?? '*'} ${e.type} ${e.property ?? `only in ${e.onlyIn}`} (${e.config})`)).toEqual([]);
  });

  it('gives every listed difference its config key and a reason', () => {
    for (const e of INTENDED_DIFFERENCES) {
      expect(e.config.length, JSON.stringify(e)).toBeGreaterThan(3);
      expect(e.reason.length, JSON.stringify(e)).toBeGreaterThan(15);
      expect((e.property === undefined) !== (e.onlyIn === undefined), `${e.type}: either property or onlyIn`).toBe(true);
    }
  });
});

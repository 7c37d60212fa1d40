/**
 * Prop checks shared by the kit's constructs, run once in each constructor so a bad value fails
 * synthesis with one sentence that names it ("X must be …, but Y was provided") instead of a
 * CloudFormation error at deploy time. Values that are still tokens (known only at deploy time)
 * are not checked.
 *
 * @example
 * integerIn('ModelCluster minNodes', props.minNodes, 0, props.maxNodes);
 */
import { Token } from 'aws-cdk-lib';

/** A construct was given a prop it cannot build from. */
export class PropsError extends Error {
  override readonly name = 'PropsError';
}

/** `value` must be an integer in [min, max]. */
export function integerIn(what: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new PropsError(`${what} must be an integer ${range}, but ${value} was provided`);
  }
}

/** `value` must be a number in [min, max]. */
export function numberIn(what: string, value: number, min: number, max: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new PropsError(`${what} must be a number from ${min} to ${max}, but ${value} was provided`);
  }
}

const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;

/** `value` must be an IPv4 CIDR block such as `10.40.0.0/16`. */
export function ipv4Cidr(what: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!IPV4_CIDR.test(value)) {
    throw new PropsError(`${what} must be an IPv4 CIDR block such as 10.40.0.0/16, but "${value}" was provided`);
  }
}

/** `values` must hold at least one entry and no entry twice. */
export function nonEmptyUnique(what: string, values: readonly string[]): void {
  if (values.length === 0) throw new PropsError(`${what} must name at least one entry, but none was provided`);
  const twice = values.find((v, i) => values.indexOf(v) !== i);
  if (twice !== undefined) {
    throw new PropsError(`${what} must not repeat an entry, but "${twice}" was provided twice`);
  }
}

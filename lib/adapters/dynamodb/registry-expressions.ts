/**
 * The storage port's preconditions and changes as DynamoDB condition and update expressions. Every
 * attribute name goes through a `#n` placeholder (so reserved words such as `name`, `value` and
 * `timestamp` need no care) and every value through a `:v` placeholder.
 */
import type { Change, Precondition, RecordRef } from '../../registry/store';

/** The port's field names that the table stores under another attribute. */
const ATTRIBUTE: Record<string, string> = { expiresAt: 'ttl' };

/** Values stored differently from the port's: `ttl` is epoch seconds, `expiresAt` epoch ms. */
export const attributeValue = (field: string, value: unknown): unknown =>
  field === 'expiresAt' ? Math.ceil((value as number) / 1000) : value;

export const attributeName = (field: string): string => ATTRIBUTE[field] ?? field;

export interface Expression {
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
}

/** Collects placeholders for one request. */
export class Placeholders implements Expression {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private n = 0;
  private v = 0;

  name(attribute: string): string {
    const existing = Object.entries(this.names).find(([, a]) => a === attribute);
    if (existing) return existing[0];
    const placeholder = `#n${this.n++}`;
    this.names[placeholder] = attribute;
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.v++}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  /** The request fields, omitting empty maps (DynamoDB refuses them). */
  fields(): { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, unknown> } {
    return {
      ...(Object.keys(this.names).length > 0 && { ExpressionAttributeNames: this.names }),
      ...(Object.keys(this.values).length > 0 && { ExpressionAttributeValues: this.values }),
    };
  }
}

/** A precondition as a `ConditionExpression`. */
export function conditionExpression(when: Precondition, p: Placeholders): string {
  if ('absent' in when) return 'attribute_not_exists(pk)';
  if ('exists' in when) return 'attribute_exists(pk)';
  if ('allOf' in when) return `(${when.allOf.map((c) => conditionExpression(c, p)).join(' AND ')})`;
  if ('anyOf' in when) return `(${when.anyOf.map((c) => conditionExpression(c, p)).join(' OR ')})`;
  const entry = 'entry' in when ? when.entry : undefined;
  const attribute =
    entry === undefined ? p.name(attributeName(when.field)) : `${p.name(when.field)}.${p.name(entry)}`;
  if ('missing' in when) return `attribute_not_exists(${attribute})`;
  if ('equals' in when) return `${attribute} = ${p.value(attributeValue(when.field, when.equals))}`;
  if ('below' in when) return `${attribute} < ${p.value(attributeValue(when.field, when.below))}`;
  return `${attribute} <= ${p.value(attributeValue(when.field, when.atMost))}`;
}

/**
 * Changes as an `UpdateExpression`. Renaming a model or an experiment also moves its `gsi1` sort key,
 * which lists them by name.
 */
export function updateExpression(ref: RecordRef, changes: readonly Change[], p: Placeholders): string {
  const sets: string[] = [];
  const removes: string[] = [];
  const adds: string[] = [];
  const path = (field: string, entry: string | undefined) =>
    entry === undefined ? p.name(attributeName(field)) : `${p.name(field)}.${p.name(entry)}`;
  for (const change of changes) {
    if ('increment' in change) {
      // ADD counts an absent attribute as 0, as the port promises.
      adds.push(`${p.name(change.increment)} ${p.value(change.by)}`);
    } else if ('set' in change) {
      const value = p.value(change.entry === undefined ? attributeValue(change.set, change.to) : change.to);
      sets.push(`${path(change.set, change.entry)} = ${value}`);
      if (change.set === 'name' && change.entry === undefined && (ref.kind === 'model' || ref.kind === 'experiment')) {
        sets.push(`${p.name('gsi1sk')} = ${value}`);
      }
    } else {
      removes.push(path(change.remove, change.entry));
    }
  }
  return [
    sets.length > 0 && `SET ${sets.join(', ')}`,
    removes.length > 0 && `REMOVE ${removes.join(', ')}`,
    adds.length > 0 && `ADD ${adds.join(', ')}`,
  ]
    .filter(Boolean)
    .join(' ');
}

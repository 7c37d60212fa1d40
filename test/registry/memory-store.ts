/**
 * A test double of the storage port: records in a Map, every precondition evaluated against the
 * record as it is at the write (JavaScript runs one write at a time, so each write is atomic, as a
 * conditional write of one DynamoDB item is). `store-contract.test.ts` runs the same cases against it
 * and the DynamoDB adapter on dynalite, so the double cannot drift from the real path unseen.
 */
import type {
  Change,
  ListOptions,
  Listed,
  Listing,
  Position,
  Precondition,
  RecordRef,
  RecordStore,
  StoredRecord,
} from '../../lib/registry/store';

const clone = <T>(value: T): T => structuredClone(value);

/** Drops `undefined` fields, as the DynamoDB adapter does (`removeUndefinedValues`). */
const defined = (record: StoredRecord): StoredRecord =>
  Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));

const keyOf = (ref: RecordRef): string =>
  JSON.stringify(Object.entries(ref).sort(([a], [b]) => (a < b ? -1 : 1)));

export function holds(when: Precondition | undefined, record: StoredRecord | undefined): boolean {
  if (when === undefined) return true;
  if ('absent' in when) return record === undefined;
  if ('exists' in when) return record !== undefined;
  if ('allOf' in when) return when.allOf.every((c) => holds(c, record));
  if ('anyOf' in when) return when.anyOf.some((c) => holds(c, record));
  const field = record?.[when.field];
  const entry = 'entry' in when ? when.entry : undefined;
  const actual = entry === undefined ? field : (field as Record<string, unknown> | undefined)?.[entry];
  if ('missing' in when) return actual === undefined;
  // As DynamoDB: a comparison with an absent attribute is false.
  if (actual === undefined) return false;
  if ('equals' in when) return JSON.stringify(actual) === JSON.stringify(when.equals);
  if ('below' in when) return (actual as number) < when.below;
  return (actual as number) <= when.atMost;
}

function apply(record: StoredRecord, change: Change): void {
  if ('increment' in change) {
    record[change.increment] = ((record[change.increment] as number | undefined) ?? 0) + change.by;
  } else if ('set' in change) {
    if (change.entry === undefined) record[change.set] = clone(change.to);
    else {
      const map = record[change.set];
      // As DynamoDB: a map entry can only be set inside an existing map.
      if (typeof map !== 'object' || map === null) throw new Error(`${change.set} is not a map`);
      (map as Record<string, unknown>)[change.entry] = clone(change.to);
    }
  } else if (change.entry === undefined) delete record[change.remove];
  else delete (record[change.remove] as Record<string, unknown> | undefined)?.[change.entry];
}

/** Which refs a listing holds, in the order it lists them. */
function inListing(listing: Listing, ref: RecordRef, record: StoredRecord): boolean {
  switch (listing.of) {
    case 'models':
      return ref.kind === 'model' && (listing.namePrefix === undefined || String(record.name).startsWith(listing.namePrefix));
    case 'modelTags':
      return ref.kind === 'modelTag' && ref.modelId === listing.modelId;
    case 'versionsByTag':
      return ref.kind === 'versionTag' && ref.key === listing.key && record.value === listing.value;
    case 'modelsByTag':
      return (
        ref.kind === 'modelTag' && ref.key === listing.key && record.value === listing.value && typeof record.name === 'string'
      );
    case 'runsByMetric': {
      if (ref.kind !== 'runLatestMetric' || ref.key !== listing.key || record.experimentId !== listing.experimentId) return false;
      const v = record.value as number;
      const x = listing.value;
      return { '<': v < x, '<=': v <= x, '>': v > x, '>=': v >= x, '=': v === x }[listing.op];
    }
    case 'experiments':
      return ref.kind === 'experiment';
    case 'runsOfExperiment':
      return ref.kind === 'run' && record.experimentId === listing.experimentId;
    case 'versionsOfRun':
      return ref.kind === 'modelVersion' && record.runId === listing.runId;
    case 'modelRecords':
      return (
        (ref.kind === 'model' ||
          ref.kind === 'modelTag' ||
          ref.kind === 'modelVersion' ||
          ref.kind === 'versionTag' ||
          ref.kind === 'registration') &&
        ref.modelId === listing.modelId
      );
    case 'modelVersions':
      return (
        ref.kind === 'modelVersion' &&
        ref.modelId === listing.modelId &&
        (listing.registration === undefined || record.idem === listing.registration) &&
        (listing.below === undefined || ref.version < listing.below)
      );
    case 'runRecords':
      return 'runId' in ref && ref.kind !== 'metricPoint' && ref.runId === listing.runId;
    case 'metricHistory':
      return ref.kind === 'metricPoint' && ref.runId === listing.runId && ref.key === listing.key;
  }
}

function order(a: Listed, b: Listed): number {
  const sortKey = (e: Listed): (string | number)[] => {
    const r = e.ref;
    switch (r.kind) {
      case 'modelVersion':
        return [r.version];
      case 'metricPoint':
        return [r.timestamp, r.step, String(r.value)];
      case 'run':
        return [(e.record.startTime as number) ?? 0, r.runId];
      case 'model':
      case 'experiment':
        return [e.record.name as string];
      case 'modelTag':
        return [(e.record.name as string | undefined) ?? '', keyOf(r)];
      case 'runLatestMetric':
        return [e.record.value as number, r.runId];
      case 'versionTag':
        return [r.modelId, r.version, r.key];
      default:
        return [keyOf(r)];
    }
  };
  const [x, y] = [sortKey(a), sortKey(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}

/**
 * {@link RecordStore} in memory.
 *
 * @example
 * const store = new MemoryRecordStore();
 * const registry = new ModelRegistry({ store, events: new RecordingPublisher() });
 */
export class MemoryRecordStore implements RecordStore {
  readonly records = new Map<string, { ref: RecordRef; record: StoredRecord }>();
  /** How many writes (put, update, remove) were refused because their precondition did not hold. */
  refused = 0;

  async get(ref: RecordRef): Promise<StoredRecord | undefined> {
    const found = this.records.get(keyOf(ref));
    return found && clone(found.record);
  }

  async getMany(refs: readonly RecordRef[]): Promise<Listed[]> {
    return refs.flatMap((ref) => {
      const found = this.records.get(keyOf(ref));
      return found ? [{ ref: clone(found.ref), record: clone(found.record) }] : [];
    });
  }

  async put(ref: RecordRef, record: StoredRecord, when?: Precondition): Promise<boolean> {
    await Promise.resolve(); // a write is never synchronous with its caller, as over the network
    if (!holds(when, this.records.get(keyOf(ref))?.record)) {
      this.refused++;
      return false;
    }
    this.records.set(keyOf(ref), { ref: clone(ref), record: clone(defined(record)) });
    return true;
  }

  async putAll(entries: readonly { ref: RecordRef; record: StoredRecord }[]): Promise<void> {
    for (const { ref, record } of entries) await this.put(ref, record);
  }

  async update(ref: RecordRef, changes: readonly Change[], when?: Precondition): Promise<StoredRecord | undefined> {
    await Promise.resolve();
    const current = this.records.get(keyOf(ref))?.record;
    if (!holds(when, current)) {
      this.refused++;
      return undefined;
    }
    const next = clone(current ?? {});
    for (const change of changes) apply(next, change);
    this.records.set(keyOf(ref), { ref: clone(ref), record: defined(next) });
    return clone(next);
  }

  async remove(ref: RecordRef, when?: Precondition): Promise<boolean> {
    await Promise.resolve();
    if (!holds(when, this.records.get(keyOf(ref))?.record)) {
      this.refused++;
      return false;
    }
    this.records.delete(keyOf(ref));
    return true;
  }

  async removeAll(refs: readonly RecordRef[]): Promise<void> {
    for (const ref of refs) this.records.delete(keyOf(ref));
  }

  async list(listing: Listing, options: ListOptions = {}): Promise<{ entries: Listed[]; next?: Position }> {
    const all = [...this.records.values()]
      .filter(({ ref, record }) => inListing(listing, ref, record))
      .map(({ ref, record }) => ({ ref: clone(ref), record: clone(record) }))
      .sort(order);
    if (listing.of === 'modelVersions' && listing.descending) all.reverse();
    const start = (options.after?.index as number | undefined) ?? 0;
    if (options.limit === undefined) return { entries: all.slice(start) };
    const end = start + options.limit;
    return { entries: all.slice(start, end), ...(end < all.length && { next: { index: end } }) };
  }
}

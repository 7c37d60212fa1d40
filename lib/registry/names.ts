/**
 * Unique names, one mechanism for registered models and experiments: a name is a record of its own
 * (`modelName` / `experimentName`) holding its owner's id, claimed by a put that requires the record
 * to be absent. A rename claims the new name before it releases the old one, so two writers can never
 * both hold a name. A crash between the claim and the owner's creation leaves a pointer to nothing;
 * such a pointer is taken over once it is older than {@link ORPHAN_POINTER_MS}, and one whose owner
 * has moved on (deleted, renamed) at once.
 */
import { absent, equals, type RecordRef, type RecordStore } from './store';

/** A name pointer without an owner this old is left over from a crashed create and may be taken over. */
export const ORPHAN_POINTER_MS = 10_000;

/** What the claimed name's current owner is doing with it. */
export type OwnerState = 'holds' | 'moved-on' | 'never-appeared';

/** One namespace of unique names. */
export interface NameSpace {
  readonly ref: (name: string) => RecordRef;
  /** The pointer's field holding the owner's id (`modelId`, `experimentId`). */
  readonly ownerField: string;
  readonly ownerState: (ownerId: string, name: string) => Promise<OwnerState>;
}

/** Claims `name` for `ownerId`; false when someone else holds it. */
export async function claimName(
  store: RecordStore,
  space: NameSpace,
  name: string,
  ownerId: string,
  now: number,
): Promise<boolean> {
  const ref = space.ref(name);
  const pointer = { [space.ownerField]: ownerId, createdAt: now };
  for (;;) {
    if (await store.put(ref, pointer, absent)) return true;
    const existing = await store.get(ref);
    if (!existing) continue; // released meanwhile: claim it again
    const previous = existing[space.ownerField] as string;
    const state = await space.ownerState(previous, name);
    const orphan =
      state === 'moved-on' ||
      (state === 'never-appeared' && now - (existing.createdAt as number) > ORPHAN_POINTER_MS);
    if (!orphan) return false;
    return store.put(ref, pointer, equals(space.ownerField, previous));
  }
}

/** Gives `name` back, if `ownerId` still holds it. */
export async function releaseName(store: RecordStore, space: NameSpace, name: string, ownerId: string): Promise<void> {
  await store.remove(space.ref(name), equals(space.ownerField, ownerId));
}

/** The id of whoever holds `name`, if anyone. */
export async function nameOwner(store: RecordStore, space: NameSpace, name: string): Promise<string | undefined> {
  return (await store.get(space.ref(name)))?.[space.ownerField] as string | undefined;
}

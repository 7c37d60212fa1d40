/**
 * The state dir's lock: one process at a time opens the engines of a state dir (`mlops up`, or a
 * command's transient platform). Taken before any engine opens, so a second `mlops up` refuses at
 * any moment of the first one's start, not only once `runtime.json` is written.
 *
 * A process is identified by its pid and its start time (Linux: `/proc/<pid>/stat`), so a lock or
 * `runtime.json` left by a killed process is recognized as stale even when its pid has since been
 * reused by an unrelated process.
 *
 * @example
 * const lock = acquireStateLock(stateDir, 'mlops up'); // throws StateLockedError if held
 * try { … } finally { lock.release(); }
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Who holds a lock, as written in the lock file. */
export interface LockHolder {
  readonly pid: number;
  /** The holder's start time as the OS reports it (clock ticks since boot on Linux); absent elsewhere. */
  readonly processStart?: string;
  readonly command: string;
  readonly since: string;
}

export interface StateLock {
  readonly file: string;
  /** Removes the lock file if this process still holds it. */
  release(): void;
}

/** The state dir is in use by another live process. */
export class StateLockedError extends Error {
  override readonly name = 'StateLockedError';
  constructor(
    readonly stateDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `the state dir ${stateDir} is in use by ${holder.command} (pid ${holder.pid}, since ${holder.since}); stop it first or pass another --state-dir`,
    );
  }
}

export const lockFileOf = (stateDir: string): string => join(stateDir, 'platform.lock');

/**
 * The start time of process `pid`, or undefined where the OS does not tell (not Linux) or the
 * process does not exist. Field 22 of `/proc/<pid>/stat`, read after the command name, which may
 * itself contain spaces and parentheses.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * True when the process that wrote `pid` (and, where recorded, `processStart`) is still running.
 * A live pid whose start time differs is another process that reused the pid.
 */
export function isSameProcessAlive(pid: number, processStart?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive, owned by someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (processStart === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === processStart;
}

/** The current holder of the state dir's lock, if it is alive. */
export function lockHolder(stateDir: string): LockHolder | undefined {
  const holder = readHolder(lockFileOf(stateDir));
  return holder && isSameProcessAlive(holder.pid, holder.processStart) ? holder : undefined;
}

/** This process's `mlops` command (`mlops up`, `mlops run training`), as a lock names its holder. */
const thisCommand = (): string => `mlops ${process.argv.slice(2, 4).join(' ')}`.trim();

/**
 * Takes the state dir's lock for this process, replacing a stale one (its holder is dead or its pid
 * was reused); throws {@link StateLockedError} while a live process holds it.
 * @param command how the holder is named to a process it refuses. @default this process's `mlops` command
 */
export function acquireStateLock(stateDir: string, command: string = thisCommand()): StateLock {
  mkdirSync(stateDir, { recursive: true });
  const file = lockFileOf(stateDir);
  const me: LockHolder = {
    pid: process.pid,
    processStart: processStartTime(process.pid),
    command,
    since: new Date().toISOString(),
  };
  // Two tries: a stale lock is removed once, then an exclusive create decides between racers.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: 'wx' });
      return {
        file,
        release() {
          const now = readHolder(file);
          if (now?.pid === me.pid && now.processStart === me.processStart) rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readHolder(file);
    if (holder && isSameProcessAlive(holder.pid, holder.processStart)) {
      throw new StateLockedError(stateDir, holder);
    }
    // Unreadable and brand new: another process is between creating and writing it.
    if (!holder && Date.now() - mtimeMs(file) < 2_000) {
      throw new StateLockedError(stateDir, { pid: 0, command: 'another process', since: 'just now' });
    }
    // A holder that is gone (or a file cut short by a crash while being written) is stale.
    rmSync(file, { force: true });
  }
  const holder = readHolder(file);
  throw new StateLockedError(
    stateDir,
    holder ?? { pid: 0, command: 'another process', since: new Date().toISOString() },
  );
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return typeof h.pid === 'number' ? h : undefined;
  } catch {
    return undefined;
  }
}

function mtimeMs(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * The local platform's log file, `<stateDir>/logs/platform.log`: what CloudWatch Logs would hold
 * on AWS (Lambda START/END/REPORT lines and what handlers print, training-job output) plus the
 * bundler's output from synthesis and every line `mlops up` shows. The terminal gets only the
 * progress lines and the banner, unless `mlops up --verbose`.
 *
 * Size-capped: when the file passes `maxBytes` it becomes `platform.log.1` (replacing the previous
 * one) and a new file starts, so a long session holds at most twice the cap. A write that fails
 * (a full disk) stops the log, says so once on the terminal, and never fails the platform.
 *
 * @example
 * const log = openPlatformLog(stateDir, { verbose: false });
 * log.write('[fn] START RequestId: …'); // file only
 * log.show('mlops up: starting engines …'); // terminal and file
 * await log.close();
 */
import { closeSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { layout } from './layout';

/** Where the platform log lives in a state dir. */
export const platformLogFile = (stateDir: string): string => join(layout(stateDir).root, 'logs', 'platform.log');

/** The default size at which the log rotates. */
export const PLATFORM_LOG_MAX_BYTES = 10 * 1024 * 1024;

export interface PlatformLogOptions {
  /** Also print the file-only lines on the terminal. @default false */
  readonly verbose?: boolean;
  /** Size at which the file rotates to `platform.log.1`. @default {@link PLATFORM_LOG_MAX_BYTES} */
  readonly maxBytes?: number;
  /** Where terminal lines go. @default process.stderr */
  readonly terminal?: (text: string) => void;
}

export interface PlatformLog {
  /** The log file's absolute path. */
  readonly file: string;
  /** A line for the file (and the terminal with `verbose`). */
  write(line: string): void;
  /** A line for the terminal and the file. */
  show(line: string): void;
  /** Raw output (a child's stdout/stderr): the file, and the terminal with `verbose`. */
  writeRaw(chunk: string | Buffer): void;
  close(): Promise<void>;
}

export function openPlatformLog(stateDir: string, options: PlatformLogOptions = {}): PlatformLog {
  const file = platformLogFile(stateDir);
  mkdirSync(join(file, '..'), { recursive: true });
  const maxBytes = options.maxBytes ?? PLATFORM_LOG_MAX_BYTES;
  const terminal = options.terminal ?? ((text: string) => void process.stderr.write(text));
  let size = sizeOf(file);
  // Synchronous appends: lines land in order with the terminal's, rotation needs no coordination
  // with pending writes, and a line costs one small write(2).
  let fd: number | undefined;
  const fail = (err: unknown) => {
    if (fd !== undefined) closeQuietly(fd);
    fd = undefined;
    terminal(`mlops up: cannot write ${file} (${(err as Error).message}); platform log lines are dropped\n`);
  };
  try {
    fd = openSync(file, 'a');
  } catch (err) {
    fail(err);
  }

  function append(text: string | Buffer): void {
    if (fd === undefined) return;
    const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
    try {
      if (size > 0 && size + bytes > maxBytes) {
        closeSync(fd);
        renameSync(file, `${file}.1`);
        fd = openSync(file, 'a');
        size = 0;
      }
      if (typeof text === 'string') writeSync(fd, text);
      else writeSync(fd, text);
      size += bytes;
    } catch (err) {
      fail(err);
    }
  }

  append(`\n=== mlops up, pid ${process.pid}, ${new Date().toISOString()} ===\n`);
  return {
    file,
    write(line) {
      append(`${line}\n`);
      if (options.verbose) terminal(`${line}\n`);
    },
    show(line) {
      append(`${line}\n`);
      terminal(`${line}\n`);
    },
    writeRaw(chunk) {
      append(chunk);
      if (options.verbose) terminal(chunk.toString());
    },
    async close() {
      if (fd !== undefined) closeQuietly(fd);
      fd = undefined;
    },
  };
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed or the disk is gone: nothing left to flush
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

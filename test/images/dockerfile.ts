/**
 * Test helper: the kit's Dockerfiles read as instructions (continuation lines joined, comments
 * dropped), and the supply-chain rules every image is held to, as functions that list violations.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../lib/constructs/mlops-function';

/** The Dockerfiles of the kit's images, relative to the repository root (their build context). */
export const DOCKERFILES = ['lib/serving/Dockerfile', 'lib/trainer/Dockerfile'] as const;

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** A Dockerfile's instructions in order (upper-case keyword, arguments on one line). */
export function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    const part = current === '' ? line : line.trimStart();
    if (part.endsWith('\\')) current += `${part.slice(0, -1).trimEnd()} `;
    else {
      logical.push(current + part);
      current = '';
    }
  }
  if (current !== '') logical.push(current);
  return logical.map((l) => {
    const m = /^\s*(\S+)\s*(.*)$/.exec(l)!;
    return { keyword: m[1]!.toUpperCase(), args: m[2]!.trim() };
  });
}

export const readDockerfile = (path: string): Instruction[] =>
  parseDockerfile(readFileSync(join(PROJECT_ROOT, path), 'utf8'));

/** The stages: each FROM and the instructions up to the next. */
export function stagesOf(instructions: Instruction[]): { from: Instruction; body: Instruction[] }[] {
  const stages: { from: Instruction; body: Instruction[] }[] = [];
  for (const i of instructions) {
    if (i.keyword === 'FROM') stages.push({ from: i, body: [] });
    else stages.at(-1)?.body.push(i);
  }
  return stages;
}

/** The image a FROM names (without `--platform=…` and `AS name`). */
export const fromImage = (from: Instruction): string =>
  from.args
    .split(/\s+/)
    .filter((w) => !w.startsWith('--'))[0]!;

const stageNames = (instructions: Instruction[]): Set<string> =>
  new Set(
    instructions
      .filter((i) => i.keyword === 'FROM')
      .map((i) => /\s+AS\s+(\S+)$/i.exec(i.args)?.[1]?.toLowerCase())
      .filter((n): n is string => n !== undefined),
  );

/** FROMs that name an image by tag only (a build stage named earlier in the file is not an image). */
export function unpinnedFroms(instructions: Instruction[]): string[] {
  const stages = stageNames(instructions);
  return instructions
    .filter((i) => i.keyword === 'FROM')
    .map(fromImage)
    .filter((image) => !stages.has(image.toLowerCase()) && !/@sha256:[0-9a-f]{64}$/.test(image));
}

/** ADD instructions that fetch from a URL (content the build does not pin). */
export const addsFromUrls = (instructions: Instruction[]): string[] =>
  instructions.filter((i) => i.keyword === 'ADD' && /\b(https?|git|ftp):\/\/|git@/.test(i.args)).map((i) => i.args);

/** The user the last stage runs as (`root` when it names none: the Docker default). */
export function runtimeUser(instructions: Instruction[]): string {
  const last = stagesOf(instructions).at(-1);
  return last?.body.filter((i) => i.keyword === 'USER').at(-1)?.args ?? 'root';
}

export const isRoot = (user: string): boolean => /^(root|0)(:.*)?$/.test(user);

/** The build-context sources of every COPY/ADD that does not copy from a stage (`--from=`). */
export function contextSources(instructions: Instruction[]): string[] {
  return instructions
    .filter((i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && !/--from=/.test(i.args))
    .flatMap((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return words.slice(0, -1);
    });
}

/**
 * The build stage's `RUN npx <tool> …` steps (the trainer's esbuild command, the model server's
 * `tsx lib/serving/bundle.ts`), as argument lists: what turns the context's sources into the image's
 * one file. Paths under the image's `/out/` are returned as `out/…`, relative to where they run.
 */
export function bundlingSteps(instructions: Instruction[]): string[][] {
  const build = stagesOf(instructions)[0]!;
  return build.body
    .filter((i) => i.keyword === 'RUN' && /^npx\s/.test(i.args))
    .map((i) =>
      i.args
        .split(/\s+/)
        .slice(1)
        .map((w) => w.replaceAll('/out/', 'out/')),
    );
}

/**
 * Runs the bundling steps of `dockerfile` in a copy of `context` (a Docker context as the image asset
 * staged it), with the repository's node_modules in place of the build stage's `npm ci`: what the
 * image build does with the context's sources, without Docker. Returns the files the steps wrote
 * under `out/` with their sizes, and the output of a step that failed.
 */
export function bundleInContext(context: string, dockerfile: string): { written: Record<string, number>; failure?: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-image-context-'));
  try {
    cpSync(context, dir, { recursive: true });
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const written: Record<string, number> = {};
    for (const [tool, ...args] of bundlingSteps(readDockerfile(dockerfile))) {
      const r = spawnSync(join(PROJECT_ROOT, 'node_modules', '.bin', tool!), args, { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) return { written, failure: `${tool} ${args.join(' ')}: ${r.status ?? r.signal}\n${r.stdout}${r.stderr}` };
      for (const a of args) {
        const path = a.replace(/^--outfile=/, '');
        if (path.startsWith('out/') && existsSync(join(dir, path))) written[path] = statSync(join(dir, path)).size;
      }
    }
    return { written };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

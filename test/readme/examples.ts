/**
 * The commands the README documents, read from the README itself: every line of a fenced `sh`
 * block, and every inline code span that starts with a command (`npx `, `npm `, `curl `, `aws `)
 * in a table cell or a paragraph. What an example prints is read from the README as well:
 *
 * - in an `sh` block, `# …` lines right below a command are its whole standard output;
 * - a trailing `# fails: <message>` says the command exits non-zero with that message;
 * - in a table cell or paragraph, code spans after the word "prints" that follows a command are
 *   pieces of its output.
 *
 * In expected output `…` stands for any text (a time, an ARN, a generated name).
 */

export interface ReadmeExample {
  /** The command as written, continuation lines joined, without a trailing comment. */
  readonly command: string;
  /** 1-based line of the README where the command starts. */
  readonly line: number;
  /** The nearest heading above it. */
  readonly section: string;
  readonly where: 'sh' | 'table' | 'prose';
  /** From a trailing `# fails: <message>`: the command must fail with this message. */
  readonly fails?: string;
  /** From `# ` lines right below the command in an `sh` block: its whole standard output. */
  readonly stdout?: string;
  /** Code spans after "prints": each must appear in what the command writes. */
  readonly prints: readonly string[];
}

const COMMAND = /^(npx|npm|curl|aws) /;

export const isCommand = (span: string): boolean => COMMAND.test(span);

/** Every documented command of a README, in document order. */
export function extractExamples(markdown: string): ReadmeExample[] {
  const lines = markdown.split('\n');
  const out: ReadmeExample[] = [];
  let section = '';
  let fence: string | undefined; // the language of the open fenced block
  let paragraph: { text: string; line: number } | undefined;
  const flushParagraph = () => {
    if (paragraph) out.push(...fromSegment(paragraph.text, paragraph.line, section, 'prose'));
    paragraph = undefined;
  };

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const fenceMark = /^\s*```(\w*)/.exec(raw);
    if (fenceMark) {
      flushParagraph();
      fence = fence === undefined ? fenceMark[1] : undefined;
      continue;
    }
    if (fence !== undefined) {
      if (fence !== 'sh') continue;
      const trimmed = raw.trim();
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      // A command, its continuation lines, then the `# ` lines that show its output.
      const line = i + 1;
      let text = raw;
      while (/\\\s*$/.test(text) && i + 1 < lines.length) text = `${text.replace(/\\\s*$/, '')} ${lines[++i]!.trim()}`;
      const { code, comment } = splitComment(text);
      const output: string[] = [];
      while (i + 1 < lines.length && /^\s*#( |$)/.test(lines[i + 1]!)) output.push(lines[++i]!.trim().replace(/^# ?/, ''));
      const fails = /^fails: (.+)$/.exec(comment ?? '')?.[1];
      out.push({
        command: code.trim().replace(/\s+/g, ' '),
        line,
        section,
        where: 'sh',
        ...(fails === undefined ? {} : { fails }),
        ...(output.length ? { stdout: output.join('\n') } : {}),
        prints: [],
      });
      continue;
    }
    const heading = /^#{1,6} (.+)$/.exec(raw);
    if (heading) {
      flushParagraph();
      section = heading[1]!.trim();
      continue;
    }
    if (/^\s*\|/.test(raw)) {
      flushParagraph();
      for (const cell of tableCells(raw)) out.push(...fromSegment(cell, i + 1, section, 'table'));
      continue;
    }
    if (raw.trim() === '') flushParagraph();
    else if (paragraph) paragraph.text += ` ${raw.trim()}`;
    else paragraph = { text: raw.trim(), line: i + 1 };
  }
  flushParagraph();
  return out;
}

/** The commands of one table cell or paragraph, each with the spans it "prints". */
function fromSegment(text: string, line: number, section: string, where: 'table' | 'prose'): ReadmeExample[] {
  const found: { command: string; prints: string[] }[] = [];
  let current: { command: string; prints: string[] } | undefined;
  let between = '';
  const pieces = text.split('`');
  for (let k = 0; k < pieces.length; k++) {
    const piece = pieces[k]!;
    if (k % 2 === 0) {
      between += piece;
      continue;
    }
    if (isCommand(piece)) {
      current = { command: piece.trim(), prints: [] };
      found.push(current);
      between = '';
    } else if (current && /\bprints\b/.test(between)) {
      current.prints.push(piece);
    }
  }
  return found.map((f) => ({ ...f, line, section, where }));
}

/** A table row's cells; a `|` inside a code span belongs to the span. */
function tableCells(row: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let inCode = false;
  for (const ch of row.trim().replace(/^\||\|$/g, '')) {
    if (ch === '`') inCode = !inCode;
    if (ch === '|' && !inCode) {
      cells.push(cell.trim());
      cell = '';
    } else cell += ch;
  }
  cells.push(cell.trim());
  return cells;
}

/** Splits a shell line at its comment: a `#` outside quotes that starts a word. */
export function splitComment(line: string): { code: string; comment?: string } {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"') i++;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '\\') i++;
    else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]!)))
      return { code: line.slice(0, i).trimEnd(), comment: line.slice(i + 1).trim() };
  }
  return { code: line };
}

/** POSIX shell words: single and double quotes, backslash escapes. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && /["\\$`]/.test(line[i + 1] ?? '')) word += line[++i];
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\') {
      word += line[++i] ?? '';
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A pattern for expected output in which `…` stands for any text. */
export function outputPattern(expected: string, whole: boolean): RegExp {
  const body = expected
    .split('…')
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*?');
  return new RegExp(whole ? `^${body}$` : body);
}

import fs from 'node:fs';
import path from 'node:path';

/** One Dockerfile instruction after line continuations are joined and comments dropped. */
export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  keyword: string;
  /** Everything after the keyword, trimmed. */
  args: string;
  /** 1-based line where the instruction starts (for error messages). */
  line: number;
}

/**
 * Parses a Dockerfile into instructions. Handles `\` continuations, full-line comments and parser
 * directives (ignored). Does not expand variables.
 */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (!buf && /^\s*(#|$)/.test(raw)) continue;
    if (buf && /^\s*#/.test(raw)) continue;
    if (!buf) start = i + 1;
    const continued = /\\\s*$/.test(raw);
    buf += `${continued ? raw.replace(/\\\s*$/, '') : raw} `;
    if (continued) continue;
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buf.trim());
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse "${buf.trim()}"`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = '';
  }
  if (buf) throw new Error('Dockerfile ends inside a line continuation');
  return out;
}

/** Replaces `$VAR` and `${VAR}` (and `${VAR:-default}`) with values from `vars` (unknown → empty). */
export function expandVars(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_m, braced: string | undefined, _d, def: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      const v = vars[name];
      return v === undefined || v === '' ? (def ?? '') : v;
    },
  );
}

/** Splits `--flag=value` options off the front of an instruction's arguments. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(=(\S*))?\s+/.exec(rest);
    if (!m) return { flags, rest };
    flags[m[1]!] = m[3] ?? 'true';
    rest = rest.slice(m[0].length);
  }
}

/** `KEY=value KEY2="v 2"` (or the legacy `KEY value`) → pairs, quotes removed. */
export function parseKeyValues(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!args.includes('=')) {
    const [k, ...v] = args.split(/\s+/);
    out[k!] = v.join(' ');
    return out;
  }
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|'([^']*)'|(\S*))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(args))) out[m[1]!] = m[3] ?? m[4] ?? m[5] ?? '';
  return out;
}

/** Parses an exec-form JSON array (`["node", "x.js"]`); `undefined` for the shell form. */
export function parseExecForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined;
  const v: unknown = JSON.parse(args);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Error(`exec form must be a JSON array of strings: ${args}`);
  return v;
}

/** Converts a .dockerignore pattern into a RegExp over a context-relative POSIX path. */
function ignoreRegExp(pattern: string): RegExp {
  let p = path.posix.normalize(pattern.replace(/^\/+/, ''));
  if (p.endsWith('/')) p = p.slice(0, -1);
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*' && p[i + 1] === '*') {
      // `**/` matches zero or more folders; a trailing `**` matches everything below.
      if (p[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** A .dockerignore: `ignored(relPath)` follows Docker's rules (last matching pattern wins, `!` re-includes). */
export interface DockerIgnore {
  ignored(relPath: string): boolean;
}

/** Reads `<context>/.dockerignore` (none → nothing ignored). */
export function loadDockerIgnore(contextDir: string): DockerIgnore {
  const file = path.join(contextDir, '.dockerignore');
  const rules = fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => ({ negate: l.startsWith('!'), re: ignoreRegExp(l.replace(/^!/, '')) }))
    : [];
  return {
    ignored(relPath) {
      const rel = relPath.split(path.sep).join('/');
      let ignored = false;
      for (const r of rules) if (r.re.test(rel)) ignored = !r.negate;
      return ignored;
    },
  };
}

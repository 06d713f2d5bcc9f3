import fs from 'node:fs';
import { parse } from 'yaml';

/** The parts of a compose service the checks read. */
export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string> | string[];
  depends_on?: Record<string, { condition?: string; required?: boolean }> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  restart?: string;
  deploy?: { replicas?: number };
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  volumes?: string[];
  ports?: string[];
  network_mode?: string;
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}

/** A parsed compose file (YAML anchors and `<<` merge keys resolved, no interpolation). */
export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Reads a compose file with merge keys resolved, as docker compose does. */
export function loadCompose(file: string): ComposeFile {
  return parse(fs.readFileSync(file, 'utf8'), { merge: true, maxAliasCount: -1 }) as ComposeFile;
}

/** Thrown by {@link interpolate} for `${VAR:?message}` when VAR is unset or empty. */
export class MissingVariableError extends Error {}

/**
 * Compose's variable interpolation over every string of `value`: `${VAR}`, `$VAR`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, and `$$` for a literal `$`. Returns a new value;
 * throws {@link MissingVariableError} for a required variable that is missing.
 */
export function interpolate<T>(value: T, env: Record<string, string | undefined>): T {
  if (typeof value === 'string') {
    return value.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (
        m,
        name: string | undefined,
        colon: string,
        op: string | undefined,
        arg: string,
        bare: string | undefined,
      ) => {
        if (m === '$$') return '$';
        const key = (name ?? bare)!;
        const v = env[key];
        const missing = colon ? v === undefined || v === '' : v === undefined;
        if (op === '-') return missing ? arg : v!;
        if (op === '?') {
          if (missing) throw new MissingVariableError(`${key}: ${arg || 'required'}`);
          return v!;
        }
        return v ?? '';
      },
    ) as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => interpolate(v, env)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)])) as T;
  return value;
}

/** A service's `environment` as a map, whichever of the two compose forms it uses. */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment;
  if (!env) return {};
  if (Array.isArray(env))
    return Object.fromEntries(env.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

/** A service's `depends_on` as `{target: condition}` (the short form means `service_started`). */
export function dependenciesOf(service: ComposeService): Record<string, string> {
  const deps = service.depends_on;
  if (!deps) return {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v.condition ?? 'service_started']));
}

/** Variable names a compose file reads, split into required (`:?`) and optional ones. */
export function variablesOf(text: string): { required: Set<string>; optional: Set<string> } {
  const required = new Set<string>();
  const optional = new Set<string>();
  for (const m of text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?/g)) {
    if (m[2]?.endsWith('?')) required.add(m[1]!);
    else optional.add(m[1]!);
  }
  for (const r of required) optional.delete(r);
  return { required, optional };
}

import { z } from 'zod';

/** Thrown by {@link loadConfig}; its message names every bad variable, never its value. */
export class ConfigError extends Error {
  readonly variables: string[];
  constructor(variables: { name: string; problem: string }[]) {
    super(`Invalid configuration: ${variables.map((v) => `${v.name} (${v.problem})`).join(', ')}`);
    this.name = 'ConfigError';
    this.variables = variables.map((v) => v.name);
  }
}

/**
 * Parse an environment with a zod object schema whose keys are the variable names.
 * Empty strings count as unset, so defaults apply.
 * @throws ConfigError naming each bad or missing variable (values are never echoed).
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined>,
): z.infer<S> {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const seen = new Map<string, string>();
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? '(root)');
      if (!seen.has(name))
        seen.set(name, issue.code === 'invalid_type' && cleaned[name] === undefined ? 'required' : 'invalid');
    }
    throw new ConfigError([...seen].map(([name, problem]) => ({ name, problem })));
  }
  return result.data;
}

/** Helpers for common variable shapes. */
export const env = {
  /** TCP port 0..65535. */
  port: (def?: number) =>
    def === undefined
      ? z.coerce.number().int().min(0).max(65535)
      : z.coerce.number().int().min(0).max(65535).default(def),
  /** Integer with bounds. */
  int: (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number().int().min(min).max(max).default(def),
  /** `true/false/1/0/yes/no`. */
  bool: (def: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .transform((v) => v === 'true' || v === '1' || v === 'yes')
      .default(def),
  /** A URL with one of the given protocols. */
  url: (protocols: string[]) =>
    z.string().refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol.replace(':', ''));
        } catch {
          return false;
        }
      },
      `must be a ${protocols.join('/')} URL`,
    ),
  /** Comma-separated list of strings; empty items dropped. */
  list: () =>
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .default([]),
  logLevel: () => z.enum(['error', 'warn', 'info', 'http', 'debug', 'silly']).default('info'),
};

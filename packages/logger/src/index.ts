import winston from 'winston';

/** Structured logger; every line is one JSON object. */
export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines all carry `fields`. */
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  /** Service name stamped on every line. */
  service: string;
  /** Minimum level; default `info`. */
  level?: string;
  /**
   * Called for every line; its fields (e.g. request_id, tenant_id, user_id from the request's
   * AsyncLocalStorage context) are merged in. Kept as a callback so this package does not depend on
   * the tenant context.
   */
  context?: () => Record<string, unknown> | undefined;
  /** Where lines go; default stdout. Tests pass a stream to capture them. */
  stream?: NodeJS.WritableStream;
  /** Silence output (tests). */
  silent?: boolean;
}

/** Turns an Error into loggable fields (name, message, stack, code, cause chain). */
export function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { error: String(err) };
  const out: Record<string, unknown> = { error: err.message, error_name: err.name, stack: err.stack };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out.error_code = code;
  if (err.cause !== undefined) out.cause = errorFields(err.cause);
  return out;
}

class WinstonLogger implements Logger {
  constructor(
    private readonly w: winston.Logger,
    private readonly context: (() => Record<string, unknown> | undefined) | undefined,
    private readonly fields: Record<string, unknown>,
  ) {}

  private write(level: string, message: string, fields?: Record<string, unknown>): void {
    this.w.log(level, message, { ...this.fields, ...(this.context?.() ?? {}), ...(fields ?? {}) });
  }
  error(m: string, f?: Record<string, unknown>): void {
    this.write('error', m, f);
  }
  warn(m: string, f?: Record<string, unknown>): void {
    this.write('warn', m, f);
  }
  info(m: string, f?: Record<string, unknown>): void {
    this.write('info', m, f);
  }
  debug(m: string, f?: Record<string, unknown>): void {
    this.write('debug', m, f);
  }
  child(fields: Record<string, unknown>): Logger {
    return new WinstonLogger(this.w, this.context, { ...this.fields, ...fields });
  }
}

/** A JSON logger: `{level, message, timestamp, service, ...context, ...fields}` per line. */
export function createLogger(options: LoggerOptions): Logger {
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  const w = winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    defaultMeta: { service: options.service },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
  return new WinstonLogger(w, options.context, {});
}

/** A logger that drops everything (unit tests). */
export function createNullLogger(): Logger {
  const l: Logger = { error() {}, warn() {}, info() {}, debug() {}, child: () => l };
  return l;
}

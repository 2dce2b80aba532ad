import pino from 'pino';
import { AgentError, classifyError, redactSecrets } from '../errors.js';
import { DailyLogFile } from './daily-file.js';
import { terminalProgress } from './terminal-progress.js';

export type Logger = pino.Logger;

/** The values LOG_LEVEL may take. */
export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  /** Data-printing commands keep stdout for their data and log to stderr. */
  stream: 'stdout' | 'stderr';
  logDir?: string;
  level?: string;
  /** Also draw live upload progress on this terminal (scan-once at a TTY). */
  terminal?: NodeJS.WritableStream;
}

export interface LoggerHandle {
  logger: Logger;
  flush(): void;
}

/** Errors are logged as `{ err }` with their code and whether a retry can help, secrets masked. */
function serializeError(err: unknown): Record<string, unknown> {
  const e = err instanceof AgentError ? err : classifyError(err);
  return {
    type: e.name,
    code: e.code,
    kind: e.kind,
    retryable: e.retryable,
    message: redactSecrets(e.message),
    ...(e.stack ? { stack: redactSecrets(e.stack) } : {}),
  };
}

export function createLogger(options: LoggerOptions): LoggerHandle {
  const console = pino.destination({ fd: options.stream === 'stdout' ? 1 : 2, sync: true });
  const file = options.logDir ? new DailyLogFile(options.logDir) : null;
  const streams: pino.StreamEntry[] = [{ stream: console }];
  if (file) streams.push({ stream: file });
  if (options.terminal) streams.push({ stream: terminalProgress(options.terminal) });
  const logger = pino(
    {
      level: options.level ?? (process.env.LOG_LEVEL || 'info'),
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
      redact: {
        paths: ['databaseUrl', 'DATABASE_URL', 'password', '*.password', 'secretAccessKey', '*.secretAccessKey', 'sessionToken', 'credentials'],
        censor: '***',
      },
    },
    pino.multistream(streams),
  );
  return {
    logger,
    flush() {
      file?.flush();
    },
  };
}

/** A logger that writes nowhere, for code paths that must not print. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

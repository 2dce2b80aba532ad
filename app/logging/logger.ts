import { createRequire } from 'node:module';
import pino from 'pino';
import type PinoPretty from 'pino-pretty';
import { AgentError, classifyError, redactSecrets } from '../errors.js';
import { DailyLogFile } from './daily-file.js';
import { terminalProgress } from './terminal-progress.js';

export type Logger = pino.Logger;

/** The values LOG_LEVEL may take. */
export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export type LogFormat = 'json' | 'pretty';
/** The values LOG_FORMAT may take; unset, the choice follows the terminal. */
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** Readable lines for a person at a terminal, JSON for everything else (a pipe, a file, CloudWatch); LOG_FORMAT forces either. */
export function chooseLogFormat(env: NodeJS.ProcessEnv, isTTY: boolean): LogFormat {
  const forced = LOG_FORMATS.find((f) => f === env.LOG_FORMAT);
  return forced ?? (isTTY ? 'pretty' : 'json');
}

/** pino-pretty, loaded only when wanted: it is not in the start-up path of a service writing JSON. */
function prettyStream(fd: 1 | 2, colorize: boolean): pino.DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pretty({
    destination: fd,
    sync: true,
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,event',
    messageFormat: '{if event}{event}: {end}{msg}',
  });
}

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

/**
 * Errors are logged as `{ err }` with their code and whether a retry can help, secrets masked.
 * A stack trace only for an error nobody expected: for a classified one (S3 throttling, a
 * session problem) the code and message say everything, and a trace only buries them.
 */
export function serializeError(err: unknown): Record<string, unknown> {
  const e = err instanceof AgentError ? err : classifyError(err);
  const stack = e.code === 'INTERNAL' ? (err instanceof Error ? err.stack : undefined) : undefined;
  return {
    type: e.name,
    code: e.code,
    kind: e.kind,
    retryable: e.retryable,
    message: redactSecrets(e.message),
    ...(stack ? { stack: redactSecrets(stack) } : {}),
  };
}

export function createLogger(options: LoggerOptions): LoggerHandle {
  const fd = options.stream === 'stdout' ? 1 : 2;
  const tty = (fd === 1 ? process.stdout : process.stderr).isTTY === true;
  const console = chooseLogFormat(process.env, tty) === 'pretty' ? prettyStream(fd, tty) : pino.destination({ fd, sync: true });
  const file = options.logDir ? new DailyLogFile(options.logDir) : null;
  // Each stream takes every line the logger's level lets through (multistream's default, info, would drop LOG_LEVEL=debug).
  const streams: pino.StreamEntry[] = [{ stream: console, level: 'trace' }];
  if (file) streams.push({ stream: file, level: 'trace' });
  if (options.terminal) streams.push({ stream: terminalProgress(options.terminal), level: 'trace' });
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

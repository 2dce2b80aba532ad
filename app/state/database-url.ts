import { AgentError } from '../errors.js';

/**
 * Checks DATABASE_URL before anything connects: `pg` takes any string for a connection string
 * (`not-a-url` becomes a host name, `mysql://…` a PostgreSQL server). Messages name the host
 * and port, never the password.
 */
export function checkDatabaseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AgentError('DATABASE_URL_INVALID', 'DATABASE_URL is not a URL; expected postgres://USER@HOST:5432/DATABASE', 'db', false);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new AgentError(
      'DATABASE_URL_INVALID',
      `DATABASE_URL is a ${parsed.protocol.replace(/:$/, '')}:// URL; only PostgreSQL (postgres:// or postgresql://) is supported`,
      'db',
      false,
    );
  }
  if (!parsed.hostname && !parsed.searchParams.get('host')) {
    throw new AgentError('DATABASE_URL_INVALID', 'DATABASE_URL names no host; expected postgres://USER@HOST:5432/DATABASE', 'db', false);
  }
  return parsed;
}

/** `host:port/database`, for messages: what was tried, without credentials. */
export function describeDatabaseUrl(url: URL): string {
  const host = url.hostname || url.searchParams.get('host') || 'localhost';
  return `${host}:${url.port || '5432'}${url.pathname.length > 1 ? url.pathname : ''}`;
}

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canTransition, TRANSITIONS, transitionEdges, type TransitionName } from '../../app/state/session-transitions.js';
import { ACTIVE_STATES, SESSION_STATES, type SessionStatus } from '../../app/state/states.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(repo, path), 'utf8');
const NAMES = Object.keys(TRANSITIONS) as TransitionName[];
/** The modules whose statements apply the table's transitions. */
const TRANSITION_MODULES = ['app/state/queries/transition-session.ts', 'app/state/queries/operator-transitions.ts'];

function appSources(dir = 'app'): { path: string; text: string }[] {
  return readdirSync(join(repo, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return appSources(path);
    return e.name.endsWith('.ts') ? [{ path, text: read(path) }] : [];
  });
}

/** SQL in `text` that writes uploader_sessions.status: an UPDATE whose SET clause names it, or an INSERT listing it. */
function statusWrites(text: string): string[] {
  const updates = [...text.matchAll(/UPDATE\s+uploader_sessions\b[\s\S]*?\bSET\b([\s\S]*?)(?:\bFROM\b|\bWHERE\b|\bRETURNING\b|`)/gi)]
    .filter((m) => /(^|[\s,.])status\s*=/i.test(m[1] ?? ''))
    .map((m) => m[0]);
  const inserts = [...text.matchAll(/INSERT\s+INTO\s+uploader_sessions\s*\(([^)]*)\)/gi)].filter((m) => /\bstatus\b/i.test(m[1] ?? '')).map((m) => m[0]);
  return [...updates, ...inserts];
}

/** The transition names the agent's call sites apply (`transitionSession(db, claim, 'name' …)`, a conditional included). */
function namesAppliedByAgent(sources: { text: string }[]): Set<string> {
  const calls = sources.flatMap((s) => [...s.text.matchAll(/transitionSession\(\s*[\w.]+,\s*\w+,\s*([^,]+),/g)].map((m) => m[1] ?? ''));
  // The argument itself, or each branch of a conditional (not the literals its test compares with).
  return new Set(calls.flatMap((arg) => [...arg.matchAll(/(?:^\s*|[?:]\s*)'(\w+)'/g)].map((m) => m[1] as string)));
}

/** `from --> to: name, name` lines of README's state diagram; `[*]` is where a new session starts. */
function readmeDiagram(): { edges: [string, string, string][]; initial: string[] } {
  const block = /## Session states[\s\S]*?```mermaid\n([\s\S]*?)```/.exec(read('README.md'))?.[1] ?? '';
  const edges: [string, string, string][] = [];
  const initial: string[] = [];
  for (const line of block.split('\n')) {
    const m = /^\s*(\[\*\]|\w+)\s*-->\s*(\w+)\s*(?::\s*(.*))?$/.exec(line);
    if (!m) continue;
    const [, from, to, label = ''] = m as unknown as [string, string, string, string?];
    if (from === '[*]') initial.push(to);
    else for (const name of label.split(',').map((n) => n.trim())) edges.push([from, to, name]);
  }
  return { edges, initial };
}

const tableTriples = () => NAMES.flatMap((name) => TRANSITIONS[name].from.map((from) => [from, TRANSITIONS[name].to, name] as [string, string, string]));
const key = ([from, to, name]: [string, string, string]) => `${from} -> ${to} (${name})`;

describe('the transition table is the one source of session transitions', () => {
  it('no SQL outside the transition modules writes a session status', () => {
    const offenders = appSources()
      .filter((s) => !TRANSITION_MODULES.includes(s.path))
      .flatMap((s) => statusWrites(s.text).map((sql) => `${s.path}: ${sql.slice(0, 80)}`));
    expect(offenders).toEqual([]);
  });

  it('the scan above sees the status writes the transition modules make (so it can fail)', () => {
    expect(TRANSITION_MODULES.map((path) => statusWrites(read(path)).length)).toEqual([1, 2]);
  });

  it('the transition modules take every guard and target from the table, not from literals', () => {
    for (const path of TRANSITION_MODULES) {
      const sql = [...read(path).matchAll(/`[^`]*`/g)].map((m) => m[0]).join('\n');
      expect(sql, path).not.toMatch(/status\s*(=|IN)\s*\(?\s*'/i);
      expect(sql, path).toMatch(/status = ANY\(\$\d+::text\[\]\)/);
    }
  });

  it('every transition in the table is made by the code, and the code names no other', () => {
    const sources = appSources().filter((s) => s.path !== 'app/state/session-transitions.ts');
    const byAgent = namesAppliedByAgent(sources);
    const byOperator = new Set(
      sources
        .filter((s) => s.path === 'app/state/queries/operator-transitions.ts')
        .flatMap((s) => [...s.text.matchAll(/TRANSITIONS\.(\w+)\./g)].map((m) => m[1] as string)),
    );
    const used = new Set([...byAgent, ...byOperator]);
    expect([...used].sort()).toEqual([...NAMES].sort());
    for (const name of byAgent) expect(TRANSITIONS[name as TransitionName].by, name).toBe('agent');
    for (const name of byOperator) expect(TRANSITIONS[name as TransitionName].by, name).toBe('operator');
  });

  it("README's state diagram shows exactly the table's transitions, and new sessions start where the schema says", () => {
    const diagram = readmeDiagram();
    expect(diagram.edges.map(key).sort()).toEqual(tableTriples().map(key).sort());
    const statusDefault = /^\s*status text DEFAULT '(\w+)'::text NOT NULL,$/m.exec(
      read('app/state/schema.sql').split('CREATE TABLE uploader_sessions (')[1] ?? '',
    )?.[1];
    expect(diagram.initial).toEqual([statusDefault]);
  });
});

describe('canTransition', () => {
  it('the states left are exactly the active ones: processed and dismissed are final', () => {
    const left = SESSION_STATES.filter((from) => SESSION_STATES.some((to) => canTransition(from, to)));
    expect(left).toEqual(ACTIVE_STATES);
  });

  it('every state but the initial one is reached by some transition', () => {
    const reached = new Set(transitionEdges().map(([, to]) => to));
    expect(SESSION_STATES.filter((s) => !reached.has(s))).toEqual([]);
  });

  it('needs_attention only goes back to waiting_for_stable or is dismissed', () => {
    expect(SESSION_STATES.filter((to) => canTransition('needs_attention', to))).toEqual(['waiting_for_stable', 'dismissed']);
  });

  it('uploaded goes to processed, uploaded or needs_attention only', () => {
    expect(SESSION_STATES.filter((to) => canTransition('uploaded', to)).sort()).toEqual(['needs_attention', 'processed', 'uploaded']);
  });

  const forbidden: [SessionStatus, SessionStatus][] = [
    ['waiting_for_stable', 'uploaded'],
    ['waiting_for_stable', 'processed'],
    ['uploading', 'processed'],
    ['ready_to_upload', 'processed'],
    ['failed', 'ready_to_upload'],
    ['uploaded', 'uploading'],
    ['uploaded', 'waiting_for_stable'],
    ['needs_attention', 'uploading'],
    ['needs_attention', 'processed'],
    ['processed', 'waiting_for_stable'],
  ];
  it.each(forbidden)('%s → %s is forbidden', (from, to) => expect(canTransition(from, to)).toBe(false));
});

describe('SESSION_STATES', () => {
  it('matches the CHECK list on uploader_sessions.status in the migrated schema (schema.sql)', () => {
    const sql = read('app/state/schema.sql');
    const check = /CONSTRAINT uploader_sessions_status_check CHECK \(\(status = ANY \(ARRAY\[([^\]]*)\]/.exec(sql);
    expect(check).not.toBeNull();
    const inSql = [...(check?.[1] ?? '').matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(new Set(inSql)).toEqual(new Set(SESSION_STATES));
    expect(inSql).toHaveLength(SESSION_STATES.length);
  });
});

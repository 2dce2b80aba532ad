import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseHcl } from '@cdktf/hcl2json';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const PLATFORM = join(ROOT, 'platform');
export const PATTERN_FILE = join(PLATFORM, 'events/complete-object.pattern.json');
export const ASL_FILE = join(PLATFORM, 'stepfunctions/validate-session.asl.json');

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, what = 'value'): Obj {
  if (!isObj(v)) throw new Error(`${what} is not an object: ${JSON.stringify(v)}`);
  return v;
}

export function arr(v: unknown, what = 'value'): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${what} is not an array: ${JSON.stringify(v)}`);
  return v;
}

/** Whether an executable is on PATH (for checks that skip with a message when a tool is absent). */
export function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function walk(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name.startsWith('.')) return [];
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p, ext) : e.name.endsWith(ext) ? [p] : [];
  });
}

/**
 * Renders the `${name}` interpolations of a Terraform template, the only template syntax the
 * platform's JSON templates use; anything else (directives, expressions, unknown names) throws.
 */
export function renderTemplate(text: string, vars: Record<string, string>): string {
  if (text.includes('%{')) throw new Error('template directives are not supported here');
  return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`template placeholder \${${name}} has no value`);
    return value;
  });
}

export function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1] ?? ''))].sort();
}

export interface TfFile {
  path: string; // relative to platform/
  body: Obj;
}

export async function parseTerraform(ext = '.tf'): Promise<TfFile[]> {
  const files = walk(PLATFORM, ext).sort();
  return Promise.all(files.map(async (f) => ({ path: relative(PLATFORM, f), body: obj(await parseHcl(f, readFileSync(f, 'utf8')), f) })));
}

/** All `kind` blocks (resource, data) of one type across files, by name. */
export function blocksOf(files: TfFile[], kind: 'resource' | 'data', type: string): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const f of files) {
    const byType = f.body[kind];
    if (!isObj(byType) || !isObj(byType[type])) continue;
    for (const [name, list] of Object.entries(byType[type])) {
      if (out.has(name)) throw new Error(`${kind} ${type}.${name} is declared twice`);
      out.set(name, obj(arr(list)[0], `${type}.${name}`));
    }
  }
  return out;
}

export function block(files: TfFile[], kind: 'resource' | 'data', type: string, name: string): Obj {
  const b = blocksOf(files, kind, type).get(name);
  if (!b) throw new Error(`${kind} "${type}" "${name}" is not declared`);
  return b;
}

/** Sub-blocks come out of hcl2json as one-element arrays. */
export function sub(b: Obj, key: string): Obj {
  return obj(arr(b[key], key)[0], key);
}

export interface Statement {
  sid?: string;
  effect: string;
  actions: string[];
  resources: string[];
  conditions: Obj[];
}

/** Statements of an aws_iam_policy_document, static and `dynamic "statement"` alike. */
export function policyStatements(doc: Obj): Statement[] {
  const raw: Obj[] = [...((doc.statement as Obj[] | undefined) ?? [])];
  const dyn = isObj(doc.dynamic) ? ((doc.dynamic.statement as Obj[] | undefined) ?? []) : [];
  for (const d of dyn) raw.push(sub(d, 'content'));
  return raw.map((s) => ({
    sid: typeof s.sid === 'string' ? s.sid : undefined,
    effect: typeof s.effect === 'string' ? s.effect : 'Allow',
    actions: (s.actions as string[] | undefined) ?? [],
    resources: (s.resources as string[] | undefined) ?? [],
    conditions: (s.condition as Obj[] | undefined) ?? [],
  }));
}

/** The file named as the first argument of `templatefile(...)` in an attribute's expression. */
export function templatefileOf(expr: unknown): { file: string; vars: string[] } {
  const m = /^\$\{templatefile\("\$\{path\.module\}\/([^"]+)",\s*\{([\s\S]*)\}\)\}$/.exec(String(expr));
  if (!m) throw new Error(`not a templatefile("\${path.module}/...", {...}) expression: ${String(expr)}`);
  const vars = [...(m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*=/g)].map((v) => v[1] ?? '');
  return { file: join(PLATFORM, m[1] ?? ''), vars: vars.sort() };
}

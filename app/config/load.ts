import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isNode, type Document } from 'yaml';
import type * as z from 'zod/mini';
import { configSchema, crossFieldProblems, type AgentConfig } from './schema.js';

export interface ConfigProblem {
  path: string;
  message: string;
  line?: number;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid configuration ${file}:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `  ${p.path || '(root)'}: ${p.message}${p.line ? ` (line ${p.line})` : ''}`;
}

export async function loadConfig(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(file, [{ path: '', message: `cannot read config file (${code})` }]);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file = '<config>'): AgentConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}`, line: lines.linePos(e.pos[0]).line })),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  const problems = [
    ...(result.success ? [] : result.error.issues.flatMap((issue) => toProblems(issue, doc, lines))),
    ...crossFieldProblems(raw).map((p) => ({ path: p.path.join('.'), message: p.message, line: lineOf(doc, lines, p.path, false) })),
  ];
  if (result.success && problems.length === 0) return result.data;
  throw new ConfigError(file, problems);
}

function toProblems(issue: z.core.$ZodIssue, doc: Document, lines: LineCounter): ConfigProblem[] {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: [...path, key].join('.'),
      message: 'unknown key (check the spelling; see config.example.yaml)',
      line: lineOf(doc, lines, [...path, key], true),
    }));
  }
  const message = issue.code === 'invalid_type' && !doc.hasIn(path) ? 'required' : issue.message;
  return [{ path: path.join('.'), message, line: lineOf(doc, lines, path, false) }];
}

/** The line of the key (or of the closest existing ancestor when the key is missing). */
function lineOf(doc: Document, lines: LineCounter, path: (string | number)[], keyItself: boolean): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const sub = path.slice(0, depth);
    if (keyItself && depth === path.length && depth > 0) {
      const parent = sub.length > 1 ? doc.getIn(sub.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isNode(it.key) && String(it.key.toJSON()) === String(sub[sub.length - 1]));
        if (pair && isNode(pair.key) && pair.key.range) return lines.linePos(pair.key.range[0]).line;
      }
      continue;
    }
    const node = depth === 0 ? doc.contents : doc.getIn(sub, true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

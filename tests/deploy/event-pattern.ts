/**
 * The subset of EventBridge content filtering the platform's patterns may use: exact strings,
 * numbers and null, `prefix`, `suffix`, `anything-but` (value or list) and `exists`. Any other
 * operator throws, so a pattern using one cannot pass these tests by accident.
 * Semantics (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html):
 * every pattern field must match; a field's array of conditions is an OR; an event array
 * matches when any element does; a field absent from the event never matches (except
 * `exists: false`).
 */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isPlainObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function matchesPattern(pattern: Json, event: Json): boolean {
  if (!isPlainObject(pattern)) throw new Error('an event pattern must be an object');
  if (!isPlainObject(event)) return false;
  return Object.entries(pattern).every(([field, condition]) => {
    const value = event[field];
    if (isPlainObject(condition)) return value !== undefined && matchesPattern(condition, value);
    if (!Array.isArray(condition)) throw new Error(`pattern field "${field}" must be an array or an object`);
    return condition.some((c) => matchesCondition(c, value));
  });
}

function matchesCondition(condition: Json, value: Json | undefined): boolean {
  if (!isPlainObject(condition)) {
    if (Array.isArray(condition)) throw new Error('nested arrays are not valid in a pattern');
    return leaves(value).some((v) => v === condition);
  }
  const ops = Object.keys(condition);
  if (ops.length !== 1) throw new Error(`one operator per condition, got ${JSON.stringify(condition)}`);
  const op = ops[0] as string;
  const arg = condition[op] as Json;
  switch (op) {
    case 'exists':
      if (typeof arg !== 'boolean') throw new Error('exists takes true or false');
      return (value !== undefined && leaves(value).length > 0) === arg;
    case 'prefix':
      return typeof arg === 'string' && leaves(value).some((v) => typeof v === 'string' && v.startsWith(arg));
    case 'suffix':
      return typeof arg === 'string' && leaves(value).some((v) => typeof v === 'string' && v.endsWith(arg));
    case 'anything-but': {
      if (value === undefined) return false;
      const excluded = Array.isArray(arg) ? arg : [arg];
      if (excluded.some((e) => isPlainObject(e))) throw new Error('anything-but with nested operators is not supported here');
      return leaves(value).some((v) => !excluded.includes(v));
    }
    default:
      throw new Error(`unsupported EventBridge pattern operator "${op}"`);
  }
}

/** The scalar values a condition is compared with: the value, or the elements of an array. */
function leaves(value: Json | undefined): Json[] {
  if (value === undefined || isPlainObject(value)) return [];
  return Array.isArray(value) ? value.filter((v) => !isPlainObject(v) && !Array.isArray(v)) : [value];
}

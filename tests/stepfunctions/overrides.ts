/** The emulator's per-state overrides, built from a definition's states (nested Maps included). */
import type { Json, JsonObject, TaskHandler } from './integrations.js';

export type States = Record<string, JsonObject>;
export type LocalHandler = (input: Json) => Promise<Json>;

function nested(state: JsonObject): States | undefined {
  const processor = state.ItemProcessor as JsonObject | undefined;
  return processor?.States as States | undefined;
}

export function isDistributed(state: JsonObject): boolean {
  const processor = state.ItemProcessor as JsonObject | undefined;
  return (processor?.ProcessorConfig as JsonObject | undefined)?.Mode === 'DISTRIBUTED';
}

/** A handler for every Task state, chosen by its Resource; every result is passed to `measure`. */
export function taskOverrides(
  states: States,
  byResource: Record<string, TaskHandler>,
  measure: (value: Json, where: string) => void,
  out: Record<string, LocalHandler> = {},
): Record<string, LocalHandler> {
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === 'Task' && !String(state.Resource).includes(':emulated:')) {
      const handler = byResource[String(state.Resource)];
      if (!handler) throw new Error(`no integration for ${name}'s resource ${String(state.Resource)}`);
      out[name] = async (input) => {
        const result = await handler(input as JsonObject);
        measure(result, `${name} task result`);
        return result;
      };
    }
    const inner = nested(state);
    // A Distributed Map's states run in child executions, which get their own overrides.
    if (inner && !isDistributed(state)) taskOverrides(inner, byResource, measure, out);
  }
  return out;
}

/** Retries wait 1 ms instead of seconds (the backoff itself is the service's business). */
export function retryOverrides(states: States, out: Record<string, number> = {}): Record<string, number> {
  for (const [name, state] of Object.entries(states)) {
    if (state.Retry) out[name] = 1;
    const inner = nested(state);
    if (inner) retryOverrides(inner, out);
  }
  return out;
}

/**
 * Executes the real state machine definition with aws-local-stepfunctions, every Task backed by
 * the integrations in integrations.ts, and measures each run against the service limits.
 *
 * aws-local-stepfunctions 3.0.0 runs inline Maps but not Distributed Maps (no ItemReader,
 * ItemBatcher or child executions): distributed-map.ts emulates exactly those parts and runs
 * each child execution's states with the emulator again.
 */
import './node20-compat.js';
import { randomUUID } from 'node:crypto';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { distributedMapHandler, itemReader, type MapState } from './distributed-map.js';
import { History, type Largest } from './history.js';
import type { Json, JsonObject, TaskHandler } from './integrations.js';
import type { S3Backend } from './s3-backend.js';
import { isDistributed, retryOverrides, taskOverrides, type States } from './overrides.js';

export interface ExecutionReport {
  executionArn: string;
  status: 'SUCCEEDED' | 'FAILED';
  output?: Json;
  error?: string;
  cause?: string;
  /** Events of this (standard) execution's history, counted as AWS would (history.ts). */
  historyEvents: number;
  /** The largest state input/output or task result of this execution. */
  largest: Largest;
  /** Child executions of its Distributed Maps (express): how many, and their largest payload and history. */
  children: { count: number; largest: Largest; mostEvents: number; firstFailure?: string };
}

export const STATE_MACHINE_ARN = 'arn:aws:states:ca-central-1:111111111111:stateMachine:lab-data-uploader-test-validate-session';

export interface RunContext {
  byResource: Record<string, TaskHandler>;
  children: ExecutionReport['children'];
  executionArn: string;
  enteredTime: string;
}

/** Runs one execution of `definition` (states as ASL JSON) to its end; never throws for a failed execution. */
export async function execute(
  definition: JsonObject,
  input: JsonObject,
  services: { byResource: Record<string, TaskHandler>; s3: S3Backend },
  executionArn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${randomUUID()}`,
): Promise<ExecutionReport> {
  const states = definition.States as States;
  const distributed = Object.entries(states).filter(([, s]) => isDistributed(s));
  const history = new History(new Set(distributed.map(([name]) => name)));
  const { byResource } = services;
  const ctx: RunContext = {
    byResource,
    children: { count: 0, largest: { bytes: 0, where: '' }, mostEvents: 0 },
    executionArn,
    enteredTime: new Date().toISOString(),
  };

  // Each Distributed Map becomes a Task with the same input/output processing, Retry and Catch.
  const runnable: States = { ...states };
  const handlers = taskOverrides(states, byResource, (v, where) => history.payload(v, where));
  for (const [name, state] of distributed) {
    const {
      ItemReader: _r,
      ItemSelector: _s,
      ItemBatcher: _b,
      ItemProcessor: _p,
      MaxConcurrency: _m,
      ToleratedFailurePercentage: _t,
      Label: _l,
      ...rest
    } = state;
    // A Distributed Map has no time limit of its own; the emulator gives every Task 60 s by default.
    runnable[name] = { ...rest, Type: 'Task', Resource: 'arn:aws:states:::emulated:distributedMap', TimeoutSeconds: 24 * 3600 };
    const handler = distributedMapHandler(state as unknown as MapState, ctx, itemReader(services.s3));
    handlers[name] = async (mapInput) => {
      const result = await handler(mapInput);
      history.payload(result, `${name} result`);
      return result;
    };
  }
  const machine = new StateMachine({ ...definition, States: runnable } as unknown as StateMachineDefinition, { validationOptions: { checkArn: false } });
  const run = machine.run(input, {
    overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: retryOverrides(states) },
    context: { Execution: { Id: executionArn, Name: executionArn.split(':').at(-1) }, State: { EnteredTime: ctx.enteredTime } },
  });
  const logged = (async () => {
    for await (const e of run.eventLogs) history.record(e);
  })();
  // jsonpath-plus (the emulator's JSONPath) returns scalars by throwing an Error: without stack
  // traces a 100,000-file run takes minutes less. Restored when the execution ends.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const report = (status: ExecutionReport['status'], extra: Partial<ExecutionReport>): ExecutionReport => ({
    executionArn,
    status,
    historyEvents: history.events,
    largest: history.largest,
    children: ctx.children,
    ...extra,
  });
  try {
    const output = (await run.result) as Json;
    await logged;
    return report('SUCCEEDED', { output });
  } catch (err) {
    await logged;
    const cause = (err as { cause?: Error }).cause;
    return report('FAILED', { error: cause?.name ?? (err as Error).name, cause: cause?.message ?? (err as Error).message });
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

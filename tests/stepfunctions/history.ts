/**
 * What AWS would record for an execution the emulator ran, from the emulator's event log.
 *
 * Counting model (Standard workflow history, one event per line item):
 * - ExecutionStarted, and ExecutionSucceeded or ExecutionFailed: 1 each.
 * - Every state: {Type}StateEntered and {Type}StateExited (a Fail state has no exit: the
 *   execution's ExecutionFailed follows).
 * - Task: per attempt TaskScheduled, TaskStarted, and TaskSucceeded or TaskFailed.
 * - Inline Map: MapStateStarted, then MapStateSucceeded or MapStateFailed; per iteration
 *   MapIterationStarted and MapIterationSucceeded/Failed, plus the events of the iteration's states.
 * - Distributed Map (emulated as a Task, see distributed-map.ts): MapStateStarted, MapRunStarted,
 *   then MapRunSucceeded + MapStateSucceeded or MapRunFailed + MapStateFailed. Its child
 *   executions have their own histories (express: none kept by the service).
 * Payloads: every execution input/output and state input/output, in UTF-8 bytes of compact JSON.
 */
import type { StateMachine } from 'aws-local-stepfunctions';

export type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export const PAYLOAD_LIMIT = 256 * 1024;
export const HISTORY_LIMIT = 25_000;

export interface Largest {
  bytes: number;
  where: string;
}

export const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');

export class History {
  events = 0;
  largest: Largest = { bytes: 0, where: '' };
  private readonly caught = new Set<string>();

  constructor(private readonly distributedMaps: ReadonlySet<string>) {}

  payload(value: unknown, where: string): void {
    const bytes = bytesOf(value);
    if (bytes > this.largest.bytes) this.largest = { bytes, where };
  }

  record(e: EventLog): void {
    switch (e.type) {
      case 'ExecutionStarted':
        this.events += 1;
        this.payload(e.input, 'execution input');
        return;
      case 'ExecutionSucceeded':
        this.events += 1;
        this.payload(e.output, 'execution output');
        return;
      case 'ExecutionFailed':
      case 'ExecutionAborted':
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        this.events += 1;
        return;
      case 'StateEntered':
        this.events += 1 + this.startEvents(e.state.name, e.state.type);
        this.payload(e.state.input, `${e.state.name} input`);
        return;
      case 'StateRetried':
        // The next attempt: scheduled and started again (its TaskFailed was counted at StateFailed).
        this.events += 2;
        return;
      case 'StateFailed':
        if (e.state.type === 'Task') this.events += this.distributedMaps.has(e.state.name) ? 2 : 1;
        else if (e.state.type === 'Map') this.events += 1;
        return;
      case 'StateCaught':
        this.caught.add(this.scope(e));
        return;
      case 'StateExited': {
        const wasCaught = this.caught.delete(this.scope(e));
        this.events += 1 + (wasCaught ? 0 : this.successEvents(e.state.name, e.state.type));
        this.payload(e.state.output, `${e.state.name} output`);
        return;
      }
      default:
        return;
    }
  }

  private scope(e: { state: { name: string }; index?: number }): string {
    return `${e.index ?? ''}/${e.state.name}`;
  }

  private startEvents(name: string, type: string): number {
    if (this.distributedMaps.has(name)) return 2;
    if (type === 'Task') return 2;
    if (type === 'Map') return 1;
    return 0;
  }

  private successEvents(name: string, type: string): number {
    if (this.distributedMaps.has(name)) return 2;
    if (type === 'Task' || type === 'Map') return 1;
    return 0;
  }
}

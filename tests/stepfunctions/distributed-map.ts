/**
 * The parts of a Distributed Map that aws-local-stepfunctions 3.0.0 lacks, emulated around it:
 * - ItemReader: `s3:getObject` of a JSON file (ReaderConfig.ItemsPointer selects a nested array)
 *   and `s3:listObjectsV2` of a prefix (every page), from the same S3 backend as the tasks;
 * - ItemSelector, evaluated by the emulator itself (an inline Map over the items, so
 *   `$$.Map.Item.Index`/`Value` and intrinsics behave as in the emulator's own Maps);
 * - ItemBatcher: items in reading order, cut at MaxItemsPerBatch or MaxInputBytesPerBatch,
 *   each child's input `{BatchInput, Items}`;
 * - child executions (the ItemProcessor's states, run by the emulator), MaxConcurrency at a time;
 *   more failures than ToleratedFailurePercentage/Count stop the run with
 *   States.ExceedToleratedFailureThreshold, as the service does.
 * The result is the array of the children's outputs.
 */
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { RunContext } from './emulator.js';
import { History, bytesOf } from './history.js';
import type { Json, JsonObject } from './integrations.js';
import { retryOverrides, taskOverrides, type States } from './overrides.js';
import type { S3Backend } from './s3-backend.js';
import { StatesError } from './states-error.js';

export interface MapState {
  ItemReader: { Resource: string; ReaderConfig?: { InputType?: string; ItemsPointer?: string; MaxItems?: number }; Parameters: JsonObject };
  ItemSelector?: JsonObject;
  ItemBatcher?: { MaxItemsPerBatch?: number; MaxInputBytesPerBatch?: number; BatchInput?: JsonObject };
  ItemProcessor: { ProcessorConfig: JsonObject; StartAt: string; States: States };
  MaxConcurrency?: number;
  ToleratedFailurePercentage?: number;
  ToleratedFailureCount?: number;
}

/** Reads a Distributed Map's items from S3, as its ItemReader says. */
export function itemReader(s3: S3Backend) {
  return async (reader: MapState['ItemReader'], params: JsonObject): Promise<Json[]> => {
    const bucket = String(params.Bucket);
    if (reader.Resource === 'arn:aws:states:::s3:getObject') {
      const text = await s3.getText(bucket, String(params.Key));
      if (text === null) throw new StatesError('States.ItemReaderFailed', `s3://${bucket}/${String(params.Key)}: The specified key does not exist.`);
      let doc: Json;
      try {
        doc = JSON.parse(text) as Json;
      } catch (err) {
        throw new StatesError('States.ItemReaderFailed', `s3://${bucket}/${String(params.Key)} is not valid JSON: ${(err as Error).message}`);
      }
      const items = pointer(doc, reader.ReaderConfig?.ItemsPointer ?? '');
      if (!Array.isArray(items))
        throw new StatesError('States.ItemReaderFailed', `ItemsPointer ${reader.ReaderConfig?.ItemsPointer ?? '(none)'} does not select an array`);
      return items.slice(0, reader.ReaderConfig?.MaxItems ?? items.length);
    }
    if (reader.Resource === 'arn:aws:states:::s3:listObjectsV2') {
      const items: Json[] = [];
      let token: string | undefined;
      do {
        const page = await s3.list(bucket, { prefix: String(params.Prefix ?? ''), maxKeys: 1000, ...(token ? { token } : {}) });
        for (const o of page.objects)
          items.push({ Etag: o.etag, Key: o.key, LastModified: Date.parse(o.lastModified) / 1000, Size: o.size, StorageClass: 'STANDARD' });
        token = page.nextToken;
      } while (token);
      return items;
    }
    throw new Error(`the emulated ItemReader does not know ${reader.Resource}`);
  };
}

/** RFC 6901 JSON Pointer. */
function pointer(doc: Json, path: string): Json | undefined {
  let at: Json | undefined = doc;
  for (const raw of path.split('/').slice(1)) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object') return undefined;
    at = Array.isArray(at) ? at[Number(token)] : at[token];
  }
  return at;
}

/** Runs a one-state machine in the emulator and returns its output. */
async function evaluate(state: JsonObject, input: JsonObject, ctx: RunContext): Promise<Json> {
  const machine = new StateMachine({ StartAt: 'Evaluate', States: { Evaluate: { ...state, End: true } } } as unknown as StateMachineDefinition);
  return (await machine.run(input, { context: { Execution: { Id: ctx.executionArn }, State: { EnteredTime: ctx.enteredTime } } }).result) as Json;
}

function batches(items: Json[], batchInput: Json | undefined, batcher: MapState['ItemBatcher']): Json[] {
  if (!batcher) return items;
  const maxItems = batcher.MaxItemsPerBatch ?? Number.POSITIVE_INFINITY;
  const maxBytes = batcher.MaxInputBytesPerBatch ?? 256 * 1024;
  const empty: JsonObject = batchInput === undefined ? { Items: [] } : { BatchInput: batchInput, Items: [] };
  const out: Json[] = [];
  let current: Json[] = [];
  let bytes = bytesOf(empty);
  for (const item of items) {
    const size = bytesOf(item) + (current.length > 0 ? 1 : 0);
    if (current.length > 0 && (current.length >= maxItems || bytes + size > maxBytes)) {
      out.push({ ...empty, Items: current });
      current = [];
      bytes = bytesOf(empty);
    }
    current.push(item);
    bytes += bytesOf(item) + (current.length > 1 ? 1 : 0);
  }
  if (current.length > 0) out.push({ ...empty, Items: current });
  return out;
}

export function distributedMapHandler(state: MapState, ctx: RunContext, read: ReturnType<typeof itemReader>) {
  const { ProcessorConfig: _config, ...processor } = state.ItemProcessor;
  const child = new StateMachine(processor as unknown as StateMachineDefinition, { validationOptions: { noValidate: true } });

  return async (input: Json): Promise<Json> => {
    const mapInput = input as JsonObject;
    const params = (await evaluate({ Type: 'Pass', Parameters: state.ItemReader.Parameters }, mapInput, ctx)) as JsonObject;
    let items = await read(state.ItemReader, params);
    if (state.ItemSelector) {
      const selector = {
        Type: 'Map',
        ItemsPath: '$.emulatedItems',
        ItemSelector: state.ItemSelector,
        ItemProcessor: { StartAt: 'Selected', States: { Selected: { Type: 'Pass', End: true } } },
      };
      items = (await evaluate(selector, { ...mapInput, emulatedItems: items }, ctx)) as Json[];
    }
    const batchInput = state.ItemBatcher?.BatchInput ? await evaluate({ Type: 'Pass', Parameters: state.ItemBatcher.BatchInput }, mapInput, ctx) : undefined;
    const inputs = batches(items, batchInput, state.ItemBatcher);
    const tolerated = Math.max(state.ToleratedFailureCount ?? 0, Math.floor(((state.ToleratedFailurePercentage ?? 0) / 100) * inputs.length));
    const outputs: Json[] = new Array<Json>(inputs.length).fill(null);
    let failures = 0;
    let next = 0;

    const runChild = async (index: number) => {
      const history = new History(new Set());
      const byResult = taskOverrides(processor.States, ctx.byResource, (v, where) => history.payload(v, where));
      const run = child.run(inputs[index] as Json, {
        overrides: { taskResourceLocalHandlers: byResult, retryIntervalOverrides: retryOverrides(processor.States) },
        context: { Execution: { Id: `${ctx.executionArn}/child-${index}` }, State: { EnteredTime: ctx.enteredTime } },
      });
      const logged = (async () => {
        for await (const e of run.eventLogs) history.record(e);
      })();
      try {
        outputs[index] = (await run.result) as Json;
      } catch (err) {
        failures += 1;
        const cause = (err as { cause?: Error }).cause ?? (err as Error);
        ctx.children.firstFailure ??= `${cause.name}: ${cause.message}`;
      }
      await logged;
      ctx.children.count += 1;
      ctx.children.mostEvents = Math.max(ctx.children.mostEvents, history.events);
      if (history.largest.bytes > ctx.children.largest.bytes) ctx.children.largest = { ...history.largest, where: `child ${index}: ${history.largest.where}` };
    };
    const worker = async () => {
      while (next < inputs.length && failures <= tolerated) await runChild(next++);
    };
    const concurrency = state.MaxConcurrency && state.MaxConcurrency > 0 ? state.MaxConcurrency : 40;
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(inputs.length, 1)) }, worker));
    if (failures > tolerated) throw new StatesError('States.ExceedToleratedFailureThreshold', 'The specified tolerated failure threshold was exceeded');
    return outputs;
  };
}

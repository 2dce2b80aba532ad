import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ASL_FILE, isObj, obj, placeholders, renderTemplate, type Obj } from './support.js';

interface AslResult {
  isValid: boolean;
  errorsText: (separator?: string) => string;
}
// asl-validator is CommonJS without type declarations.
const validate = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => AslResult;

const template = readFileSync(ASL_FILE, 'utf8');
const VARS = {
  key_prefix: 'raw/',
  handoff_table: 'lab-data-uploader-dev-handoffs',
  etl_state_machine_arn: 'arn:aws:states:ca-central-1:111111111111:stateMachine:lab-etl',
};
const render = (vars: Record<string, string>): Obj => obj(JSON.parse(renderTemplate(template, vars)));

/** Every state, nested Map processors included, by name. */
function allStates(def: Obj): Map<string, Obj> {
  const out = new Map<string, Obj>();
  const visit = (states: Obj) => {
    for (const [name, s] of Object.entries(states)) {
      const state = obj(s);
      out.set(name, state);
      if (isObj(state.ItemProcessor)) visit(obj(state.ItemProcessor.States));
    }
  };
  visit(obj(def.States));
  return out;
}

describe('validation state machine (platform/stepfunctions/validate-session.asl.json)', () => {
  it('uses exactly the placeholders Terraform fills in', () => {
    expect(placeholders(template)).toEqual(['etl_state_machine_arn', 'handoff_table', 'key_prefix']);
  });

  it.each([
    ['with an ETL target', VARS],
    ['without an ETL target', { ...VARS, etl_state_machine_arn: '' }],
    ['with an empty prefix', { ...VARS, key_prefix: '' }],
  ])('is valid ASL %s (asl-validator)', (_, vars) => {
    const result = validate(render(vars));
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('is rejected by asl-validator when broken (the check can fail)', () => {
    const def = render(VARS);
    obj(obj(def.States).ReadManifestHead).Next = 'NoSuchState';
    expect(validate(def).isValid).toBe(false);
  });

  const def = render(VARS);
  const states = allStates(def);

  // What it does is tested by executing it: tests/stepfunctions/. Here: what execution cannot show.
  it('reads the manifest and lists the prefix through Distributed Maps of express children, in batches that fit the payload limit', () => {
    for (const name of ['CheckFiles', 'CountKeys']) {
      const map = obj(states.get(name), name);
      expect(obj(obj(map.ItemProcessor).ProcessorConfig)).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' });
      expect(Number(obj(map.ItemBatcher).MaxInputBytesPerBatch)).toBeLessThanOrEqual(256 * 1024);
      expect(map.ResultPath).toBeNull();
    }
    expect(obj(obj(states.get('CheckFiles')).ItemReader)).toMatchObject({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSON', ItemsPointer: '/files' },
    });
    expect(obj(obj(states.get('CountKeys')).ItemReader).Resource).toBe('arn:aws:states:::s3:listObjectsV2');
  });

  it('only reads the bucket, and writes nothing but its table and the ETL start', () => {
    const resources = [...states.values()].filter((s) => s.Type === 'Task').map((s) => String(s.Resource));
    expect(new Set(resources)).toEqual(
      new Set([
        'arn:aws:states:::aws-sdk:s3:headObject',
        'arn:aws:states:::aws-sdk:s3:listObjectsV2',
        'arn:aws:states:::dynamodb:putItem',
        'arn:aws:states:::dynamodb:getItem',
        'arn:aws:states:::dynamodb:updateItem',
        'arn:aws:states:::dynamodb:deleteItem',
        'arn:aws:states:::aws-sdk:sfn:describeExecution',
        'arn:aws:states:::states:startExecution',
      ]),
    );
    for (const s of states.values()) if (String(s.Resource).includes(':dynamodb:')) expect(obj(s.Parameters).TableName).toBe(VARS.handoff_table);
  });

  it('retries transient errors on every S3 and DynamoDB call, never selecting fields an answer may lack', () => {
    for (const [name, s] of states) {
      if (s.Type !== 'Task' || /ReleaseClaim|ForgetRun/.test(name)) continue;
      expect((s.Retry as Obj[] | undefined)?.length, `${name} has no Retry`).toBeGreaterThan(0);
      // A HeadObject answer has no Metadata for an object without user metadata (multipart uploads).
      expect(JSON.stringify(s.ResultSelector ?? {}), name).not.toContain('Metadata');
    }
    const head = obj(states.get('HeadFile'));
    expect((head.Retry as Obj[]).flatMap((r) => r.ErrorEquals as string[])).toEqual(expect.arrayContaining(['S3.S3Exception', 'S3.SdkClientException']));
  });

  it('ignores _COMPLETE keys that are not a session marker under the prefix', () => {
    const keys = obj(obj(def.States).SessionKeys).Parameters;
    expect(obj(keys)['marker_key.$']).toBe("States.Format('raw/{}/_COMPLETE', $.session_id)");
    expect(obj(states.get('IsSessionMarker')).Default).toBe('NotASessionMarker');
  });
});

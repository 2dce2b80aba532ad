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

/** Top-level states a successful execution visits: Next, a Choice's first rule unless `take` says otherwise. */
function happyPath(def: Obj, take: Record<string, string> = {}): string[] {
  const states = obj(def.States);
  const path: string[] = [];
  let name: unknown = def.StartAt;
  while (typeof name === 'string' && !path.includes(name)) {
    path.push(name);
    const s = obj(states[name]);
    const firstChoice = Array.isArray(s.Choices) && isObj(s.Choices[0]) ? s.Choices[0].Next : undefined;
    name = take[name] ?? (s.Type === 'Choice' ? firstChoice : s.Next);
  }
  return path;
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
    obj(obj(def.States).ReadManifest).Next = 'NoSuchState';
    expect(validate(def).isValid).toBe(false);
  });

  const def = render(VARS);
  const states = allStates(def);

  it('reads the marker, then the manifest, checks every file in a Map, claims, then hands off', () => {
    const path = happyPath(def, { HasEtlTarget: 'StartEtl' });
    const order = ['ReadMarker', 'ReadManifest', 'CheckFiles', 'ClaimHandOff', 'HasEtlTarget', 'StartEtl'];
    expect(path.filter((s) => order.includes(s))).toEqual(order);
  });

  it('only calls read-only S3 APIs, the hand-off table and StartExecution', () => {
    const resources = [...states.values()].filter((s) => s.Type === 'Task').map((s) => String(s.Resource));
    expect(new Set(resources)).toEqual(
      new Set([
        'arn:aws:states:::aws-sdk:s3:headObject',
        'arn:aws:states:::aws-sdk:s3:getObject',
        'arn:aws:states:::dynamodb:putItem',
        'arn:aws:states:::dynamodb:deleteItem',
        'arn:aws:states:::states:startExecution',
      ]),
    );
  });

  it('parses the manifest body and maps over its files inline, checking size and sha256', () => {
    expect(obj(states.get('ReadManifest')).ResultSelector).toEqual({ 'document.$': 'States.StringToJson($.Body)' });
    const map = obj(states.get('CheckFiles'));
    expect(map.Type).toBe('Map');
    expect(map.ItemsPath).toBe('$.manifest.document.files');
    expect(obj(obj(map.ItemProcessor).ProcessorConfig).Mode).toBe('INLINE');
    expect(JSON.stringify(states.get('SizeMatches'))).toContain('"NumericEqualsPath":"$.file.size"');
    expect(JSON.stringify(states.get('Sha256Matches'))).toContain('"StringEqualsPath":"$.file.sha256"');
    for (const fail of ['FileUnreadable', 'SizeMismatch', 'Sha256Mismatch', 'ManifestInvalid', 'HandOffFailed']) {
      const s = obj(states.get(fail), fail);
      expect(s.Type).toBe('Fail');
      expect(typeof s.Error).toBe('string');
      expect(typeof (s.Cause ?? s.CausePath)).toBe('string');
    }
  });

  it('hands off once per session and manifest: a conditional put, and an existing claim ends quietly', () => {
    const claim = obj(states.get('ClaimHandOff'));
    expect(obj(claim.Parameters).ConditionExpression).toBe('attribute_not_exists(pk)');
    expect(obj(claim.Parameters).TableName).toBe(VARS.handoff_table);
    const caught = (claim.Catch as Obj[]).find((c) => (c.ErrorEquals as string[]).includes('DynamoDB.ConditionalCheckFailedException'));
    expect(obj(states.get(String(caught?.Next))).Type).toBe('Succeed');
    expect(JSON.stringify(states.get('HandOffKey'))).toContain('$.handoff.manifest_sha256');
  });

  it('is a no-op hand-off without an ETL target and releases the claim when the hand-off fails', () => {
    const noEtl = render({ ...VARS, etl_state_machine_arn: '' });
    expect(obj(obj(noEtl.States).SessionKeys).Parameters).toMatchObject({ etl_state_machine_arn: '' });
    const choice = obj(states.get('HasEtlTarget'));
    expect(choice.Choices).toEqual([{ Variable: '$.etl_state_machine_arn', StringEquals: '', Next: 'NoEtlTarget' }]);
    expect(obj(states.get('NoEtlTarget')).Type).toBe('Succeed');
    const start = obj(states.get('StartEtl'));
    const catchAll = (start.Catch as Obj[]).find((c) => (c.ErrorEquals as string[]).includes('States.ALL'));
    expect(catchAll?.Next).toBe('ReleaseClaim');
    expect(obj(states.get('ReleaseClaim')).Next).toBe('HandOffFailed');
  });

  it('ignores _COMPLETE keys that are not a session marker under the prefix', () => {
    const keys = obj(obj(def.States).SessionKeys).Parameters;
    expect(obj(keys)['marker_key.$']).toBe("States.Format('raw/{}/_COMPLETE', $.session_id)");
    expect(obj(states.get('IsSessionMarker')).Default).toBe('NotASessionMarker');
  });
});

/** The validating state machine as Terraform renders it, wired to the test's S3 and fakes. */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { ASL_FILE, renderTemplate } from '../deploy/support.js';
import { FakeTable } from './dynamodb-fake.js';
import { STATE_MACHINE_ARN, execute, type ExecutionReport } from './emulator.js';
import { FakeStepFunctions, integrations, type JsonObject } from './integrations.js';
import type { S3Backend } from './s3-backend.js';

export const TABLE = 'lab-data-uploader-test-handoffs';
export const ETL_ARN = 'arn:aws:states:ca-central-1:111111111111:stateMachine:lab-etl';

export function renderDefinition(keyPrefix: string, etlArn = ETL_ARN): JsonObject {
  const text = renderTemplate(readFileSync(ASL_FILE, 'utf8'), { key_prefix: keyPrefix, etl_state_machine_arn: etlArn, handoff_table: TABLE });
  return JSON.parse(text) as JsonObject;
}

/** An S3 "Object Created" event as EventBridge delivers it to the state machine. */
export function objectCreated(bucket: string, key: string): JsonObject {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '111111111111',
    time: new Date().toISOString(),
    region: 'ca-central-1',
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: { key, size: 0, etag: 'd41d8cd98f00b204e9800998ecf8427e', sequencer: '0062E99A88DC407460' },
      'request-id': 'TEST',
      requester: '111111111111',
      'source-ip-address': '10.0.0.1',
      reason: 'PutObject',
    },
  };
}

export class Validator {
  readonly table: FakeTable;
  readonly sfn: FakeStepFunctions;
  private readonly definition: JsonObject;

  /** `shared`: the hand-off table and executions of another deployment of the same machine. */
  constructor(
    readonly s3: S3Backend,
    keyPrefix: string,
    etlArn = ETL_ARN,
    shared?: { table: FakeTable; sfn: FakeStepFunctions },
  ) {
    this.definition = renderDefinition(keyPrefix, etlArn);
    this.table = shared?.table ?? new FakeTable(TABLE);
    this.sfn = shared?.sfn ?? new FakeStepFunctions();
  }

  /** One execution for the `_COMPLETE` (or any) key; its status is visible to DescribeExecution while it runs. */
  async run(bucket: string, key: string): Promise<ExecutionReport> {
    const arn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${randomUUID()}`;
    this.sfn.validatorRuns.set(arn, 'RUNNING');
    const report = await execute(
      this.definition,
      objectCreated(bucket, key),
      { byResource: integrations({ s3: this.s3, table: this.table, sfn: this.sfn }), s3: this.s3 },
      arn,
    );
    this.sfn.validatorRuns.set(arn, report.status);
    return report;
  }

  /** The hand-off claim of a session prefix (`raw/S1/`), whatever its manifest. */
  claims(prefix: string): JsonObject[] {
    return [...this.table.items.entries()].filter(([pk]) => pk.includes(`/${prefix}#`)).map(([, item]) => item as unknown as JsonObject);
  }
}

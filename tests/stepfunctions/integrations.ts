/**
 * The service integrations the definition's Task states call, answering with the shapes and
 * error names Step Functions uses: `S3.NoSuchKeyException` for a missing key, `S3.S3Exception`
 * with "Status Code: N" in the cause for other HTTP errors, `DynamoDB.*` and `StepFunctions.*`
 * for the optimized integrations, `Sfn.*` for the aws-sdk one.
 */
import type { FakeTable, KeyRequest, PutItemRequest, UpdateItemRequest } from './dynamodb-fake.js';
import { S3StatusError, type S3Backend } from './s3-backend.js';
import { StatesError } from './states-error.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };
export type TaskHandler = (input: JsonObject) => Promise<Json>;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** Executions of the validator (for DescribeExecution) and of the ETL (started by it). */
export class FakeStepFunctions {
  readonly validatorRuns = new Map<string, ExecutionStatus>();
  readonly etlStarts: { name: string; input: JsonObject }[] = [];
  /** Errors the next StartExecution calls fail with (a name Step Functions would use). */
  readonly startFailures: string[] = [];

  startExecution(req: JsonObject): JsonObject {
    const failure = this.startFailures.shift();
    if (failure)
      throw new StatesError(failure, `${failure.replace(/^StepFunctions\./, '')}: injected by the test (Service: AWSStepFunctions; Status Code: 400)`);
    const name = String(req.Name);
    if (this.etlStarts.some((s) => s.name === name)) {
      throw new StatesError('StepFunctions.ExecutionAlreadyExistsException', `Execution Already Exists: '${String(req.StateMachineArn)}:${name}'`);
    }
    this.etlStarts.push({ name, input: req.Input as JsonObject });
    return { ExecutionArn: `${String(req.StateMachineArn).replace(':stateMachine:', ':execution:')}:${name}`, StartDate: new Date().toISOString() };
  }

  describeExecution(req: JsonObject): JsonObject {
    const arn = String(req.ExecutionArn);
    const status = this.validatorRuns.get(arn);
    if (!status) throw new StatesError('Sfn.ExecutionDoesNotExistException', `Execution Does Not Exist: '${arn}' (Service: Sfn, Status Code: 400)`);
    return { ExecutionArn: arn, Status: status, StartDate: new Date().toISOString() };
  }
}

const requestIds = () => `(Service: S3, Status Code: {status}, Request ID: TEST${Math.floor(Math.random() * 1e9)}, Extended Request ID: test)`;

function s3Error(err: unknown): Error {
  if (err instanceof S3StatusError) {
    const detail = requestIds().replace('{status}', String(err.status));
    if (err.status === 404) return new StatesError('S3.NoSuchKeyException', `The specified key does not exist. ${detail}`);
    return new StatesError('S3.S3Exception', `${err.message} ${detail}`);
  }
  return new StatesError('S3.SdkClientException', `Unable to execute HTTP request: ${(err as Error).message}`);
}

async function s3Call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw s3Error(err);
  }
}

/** DynamoDB's optimized integration adds its HTTP metadata to every result. */
const dynamoResult = (result: JsonObject): JsonObject => ({
  ...result,
  SdkHttpMetadata: {
    HttpHeaders: { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': 'TEST0000000000000000000000000000000000000000000000' },
    HttpStatusCode: 200,
  },
  SdkResponseMetadata: { RequestId: 'TEST0000000000000000000000000000000000000000000000' },
});

export interface Services {
  s3: S3Backend;
  table: FakeTable;
  sfn: FakeStepFunctions;
}

/** Task handlers by Resource ARN. */
export function integrations(services: Services): Record<string, TaskHandler> {
  const { s3, table, sfn } = services;
  return {
    'arn:aws:states:::aws-sdk:s3:headObject': (req) =>
      s3Call(async () => {
        const head = await s3.head(String(req.Bucket), String(req.Key));
        if (!head) throw new S3StatusError(404, 'NotFound');
        const answer: JsonObject = {
          AcceptRanges: 'bytes',
          ContentLength: head.size,
          ContentType: 'application/octet-stream',
          ETag: head.etag,
          LastModified: head.lastModified,
        };
        // An object without user metadata has no Metadata field at all in the answer.
        if (Object.keys(head.metadata).length > 0) answer.Metadata = head.metadata;
        return answer;
      }),
    'arn:aws:states:::aws-sdk:s3:listObjectsV2': (req) =>
      s3Call(async () => {
        const maxKeys = typeof req.MaxKeys === 'number' ? req.MaxKeys : 1000;
        const page = await s3.list(String(req.Bucket), {
          prefix: String(req.Prefix ?? ''),
          maxKeys,
          ...(typeof req.StartAfter === 'string' ? { startAfter: req.StartAfter } : {}),
          ...(typeof req.ContinuationToken === 'string' ? { token: req.ContinuationToken } : {}),
        });
        const answer: JsonObject = {
          IsTruncated: page.nextToken !== undefined,
          KeyCount: page.objects.length,
          MaxKeys: maxKeys,
          Name: String(req.Bucket),
          Prefix: String(req.Prefix ?? ''),
        };
        if (typeof req.StartAfter === 'string') answer.StartAfter = req.StartAfter;
        if (page.nextToken) answer.NextContinuationToken = page.nextToken;
        // S3 leaves Contents out of an empty page.
        if (page.objects.length > 0)
          answer.Contents = page.objects.map((o) => ({ Key: o.key, Size: o.size, ETag: o.etag, LastModified: o.lastModified, StorageClass: 'STANDARD' }));
        return answer;
      }),
    'arn:aws:states:::dynamodb:putItem': async (req) => dynamoResult(table.putItem(req as unknown as PutItemRequest)),
    'arn:aws:states:::dynamodb:getItem': async (req) => dynamoResult(table.getItem(req as unknown as KeyRequest) as JsonObject),
    'arn:aws:states:::dynamodb:updateItem': async (req) => dynamoResult(table.updateItem(req as unknown as UpdateItemRequest)),
    'arn:aws:states:::dynamodb:deleteItem': async (req) => dynamoResult(table.deleteItem(req as unknown as KeyRequest)),
    'arn:aws:states:::states:startExecution': async (req) => sfn.startExecution(req),
    'arn:aws:states:::aws-sdk:sfn:describeExecution': async (req) => sfn.describeExecution(req),
  };
}

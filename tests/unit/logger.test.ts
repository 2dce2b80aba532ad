import { describe, expect, it } from 'vitest';
import { AgentError, sessionProblem } from '../../app/errors.js';
import { chooseLogFormat, serializeError } from '../../app/logging/logger.js';

describe('chooseLogFormat', () => {
  it('pretty at a terminal, JSON otherwise', () => {
    expect(chooseLogFormat({}, true)).toBe('pretty');
    expect(chooseLogFormat({}, false)).toBe('json');
  });

  it('LOG_FORMAT forces either', () => {
    expect(chooseLogFormat({ LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(chooseLogFormat({ LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
  });
});

describe('serializeError', () => {
  it('a classified error: code, kind, retryable and message, no stack', () => {
    const s3 = Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
    for (const err of [sessionProblem('BAD_SESSION_ID', 'bad id'), new AgentError('S3_X', 'x', 's3', true), s3]) {
      const out = serializeError(err);
      expect(out).toHaveProperty('code');
      expect(out).toHaveProperty('message');
      expect(out).not.toHaveProperty('stack');
    }
  });

  it('an unexpected error keeps its own stack', () => {
    const err = new TypeError('cannot read properties of undefined');
    const out = serializeError(err);
    expect(out).toMatchObject({ code: 'INTERNAL', kind: 'internal' });
    expect(out.stack).toBe(err.stack);
  });
});

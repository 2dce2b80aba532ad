import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { matchesPattern } from './event-pattern.js';
import { PATTERN_FILE, placeholders, renderTemplate } from './support.js';

const BUCKET = 'example-lab-data';

/** An S3 "Object Created" event as EventBridge delivers it (shape from the S3 user guide). */
function s3Event(key: string, overrides: { bucket?: string; detailType?: string; source?: string } = {}) {
  return {
    version: '0',
    id: '17793124-05d4-b198-2fde-7ededc63b103',
    'detail-type': overrides.detailType ?? 'Object Created',
    source: overrides.source ?? 'aws.s3',
    account: '111122223333',
    time: '2025-01-14T16:31:12Z',
    region: 'ca-central-1',
    resources: [`arn:aws:s3:::${overrides.bucket ?? BUCKET}`],
    detail: {
      version: '0',
      bucket: { name: overrides.bucket ?? BUCKET },
      object: { key, size: 0, etag: 'd41d8cd98f00b204e9800998ecf8427e', sequencer: '00617F08299329D189' },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '111122223333',
      'source-ip-address': '100.64.0.12',
      reason: 'PutObject',
    },
  };
}

const template = readFileSync(PATTERN_FILE, 'utf8');
const pattern = JSON.parse(renderTemplate(template, { bucket_name: BUCKET }));

describe('EventBridge pattern for _COMPLETE objects (platform/events/complete-object.pattern.json)', () => {
  it('is a template of the bucket name only', () => {
    expect(placeholders(template)).toEqual(['bucket_name']);
  });

  it.each(['raw/S-2025-001/_COMPLETE', 'S-2025-001/_COMPLETE', 'raw/lab/a.b_c-d/_COMPLETE'])('matches %s', (key) => {
    expect(matchesPattern(pattern, s3Event(key))).toBe(true);
  });

  it.each([
    'raw/S-2025-001/manifest.json',
    'raw/S-2025-001/data.csv',
    'raw/S-2025-001/_COMPLETE.tmp',
    'raw/S-2025-001/_COMPLETE/x',
    'raw/S-2025-001/NOT_COMPLETE',
    '_COMPLETE',
  ])('does not match %s', (key) => {
    expect(matchesPattern(pattern, s3Event(key))).toBe(false);
  });

  it('does not match another bucket', () => {
    expect(matchesPattern(pattern, s3Event('raw/S1/_COMPLETE', { bucket: 'other-bucket' }))).toBe(false);
  });

  it('does not match other S3 events or sources', () => {
    expect(matchesPattern(pattern, s3Event('raw/S1/_COMPLETE', { detailType: 'Object Deleted' }))).toBe(false);
    expect(matchesPattern(pattern, s3Event('raw/S1/_COMPLETE', { source: 'custom.uploader' }))).toBe(false);
  });
});

describe('the EventBridge pattern matcher itself', () => {
  const event = { source: 'aws.s3', detail: { n: 5, tags: ['a', 'b'], key: 'x/y' } };

  it('ANDs fields and ORs the conditions of one field', () => {
    expect(matchesPattern({ source: ['aws.s3'], detail: { n: [5] } }, event)).toBe(true);
    expect(matchesPattern({ source: ['aws.s3'], detail: { n: [6] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { key: [{ prefix: 'z' }, { suffix: '/y' }] } }, event)).toBe(true);
  });

  it('requires the field to exist unless exists:false', () => {
    expect(matchesPattern({ detail: { missing: [{ prefix: '' }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { missing: [{ exists: false }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { key: [{ exists: false }] } }, event)).toBe(false);
    expect(matchesPattern({ nothere: { key: ['x/y'] } }, event)).toBe(false);
  });

  it('matches arrays element-wise and supports anything-but', () => {
    expect(matchesPattern({ detail: { tags: ['b'] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { key: [{ 'anything-but': ['x/y', 'q'] }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { key: [{ 'anything-but': 'q' }] } }, event)).toBe(true);
  });

  it('rejects operators it does not implement', () => {
    expect(() => matchesPattern({ detail: { key: [{ wildcard: '*/y' }] } }, event)).toThrow(/unsupported/);
    expect(() => matchesPattern({ detail: { n: [{ numeric: ['>', 1] }] } }, event)).toThrow(/unsupported/);
  });
});

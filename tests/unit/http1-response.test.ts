import { describe, expect, it } from 'vitest';
import { parseResponse } from '../../app/s3/http1-response.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('reading an HTTP/1.1 answer', () => {
  it('a PUT answer with Content-Length: complete only once every byte is there, at any split', () => {
    const text = 'HTTP/1.1 200 OK\r\nETag: "abc"\r\nx-amz-request-id: R1\r\nContent-Length: 5\r\n\r\nhello';
    for (let cut = 0; cut < text.length; cut++) expect(parseResponse(b(text.slice(0, cut)), false), `cut at ${cut}`).toBeNull();
    const got = parseResponse(b(text), false);
    expect(got?.used).toBe(text.length);
    expect(got?.response).toMatchObject({ status: 200, keepAlive: true, headers: { etag: '"abc"', 'x-amz-request-id': 'R1' } });
    expect(got?.response.body.toString()).toBe('hello');
  });

  it('a chunked error document with extensions and trailers; bytes after it are not counted', () => {
    const xml = '<Error><Code>AccessDenied</Code></Error>';
    const text = `HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n${xml.slice(0, 5)}\r\n${(xml.length - 5).toString(16)}\r\n${xml.slice(5)}\r\n0\r\nx-trailer: t\r\n\r\n`;
    for (let cut = 0; cut < text.length; cut++) expect(parseResponse(b(text.slice(0, cut)), false), `cut at ${cut}`).toBeNull();
    const got = parseResponse(b(`${text}HTTP/1.1 200`), false);
    expect(got?.response.status).toBe(403);
    expect(got?.response.body.toString()).toBe(xml);
    expect(got?.used).toBe(text.length);
  });

  it('100 Continue is skipped; Connection: close and HTTP/1.0 end the connection; a body without length runs to the close', () => {
    expect(parseResponse(b('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), false)?.response).toMatchObject({
      status: 200,
      keepAlive: true,
    });
    expect(parseResponse(b('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'), false)?.response.keepAlive).toBe(false);
    expect(parseResponse(b('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'), false)?.response.keepAlive).toBe(false);
    expect(parseResponse(b('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n'), false)?.response.keepAlive).toBe(true);
    expect(parseResponse(b('HTTP/1.1 500 Oops\r\n\r\npartial'), false)).toBeNull();
    const closed = parseResponse(b('HTTP/1.1 500 Oops\r\n\r\nall of it'), true)?.response;
    expect(closed?.body.toString()).toBe('all of it');
    expect(closed?.keepAlive).toBe(false);
  });

  it('what is not HTTP is an error (EPROTO), never a success', () => {
    for (const text of [
      'SSH-2.0-OpenSSH\r\n\r\n',
      'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    ]) {
      expect(() => parseResponse(b(text), false), text).toThrow(expect.objectContaining({ code: 'EPROTO' }));
    }
  });
});

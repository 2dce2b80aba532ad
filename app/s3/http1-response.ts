export interface Http1Response {
  status: number;
  /** Names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** The server lets the connection carry another request. */
  keepAlive: boolean;
}

/** S3's answers to a PUT are a few hundred bytes; an error document a few KiB. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * The first complete HTTP/1.x response in `buf` (interim 1xx answers skipped) and how many
 * bytes it took; null while more bytes are needed. `closed`: the server has closed the
 * connection, which ends a body sent without a length. Throws on what is not HTTP.
 */
export function parseResponse(buf: Buffer, closed: boolean): { response: Http1Response; used: number } | null {
  if (buf.length > MAX_RESPONSE_BYTES) throw protocolError(`an answer of more than ${MAX_RESPONSE_BYTES} bytes`);
  let start = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', start, 'latin1');
    if (headEnd < 0) return null;
    const [statusLine = '', ...lines] = buf.toString('latin1', start, headEnd).split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(statusLine);
    if (!m) throw protocolError(`a status line of ${JSON.stringify(statusLine.slice(0, 80))}`);
    const status = Number(m[2]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw protocolError(`a header line of ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyStart = headEnd + 4;
    if (status < 200) {
      // An interim answer (100 Continue): the real one follows.
      start = bodyStart;
      continue;
    }
    const connection = (headers.connection ?? '').toLowerCase();
    const keepAlive = m[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    const framed = frameBody(buf, bodyStart, status, headers, closed);
    if (!framed) return null;
    return { response: { status, headers, body: framed.body, keepAlive: keepAlive && !framed.untilClose }, used: framed.end };
  }
}

function frameBody(
  buf: Buffer,
  start: number,
  status: number,
  headers: Record<string, string>,
  closed: boolean,
): { body: Buffer; end: number; untilClose?: boolean } | null {
  if (status === 204 || status === 304) return { body: Buffer.alloc(0), end: start };
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) return dechunk(buf, start);
  const length = headers['content-length'];
  if (length !== undefined) {
    if (!/^\d+$/.test(length)) throw protocolError(`a Content-Length of ${JSON.stringify(length.slice(0, 40))}`);
    const end = start + Number(length);
    return buf.length < end ? null : { body: buf.subarray(start, end), end };
  }
  // No length: the body runs to the end of the connection.
  return closed ? { body: buf.subarray(start), end: buf.length, untilClose: true } : null;
}

function dechunk(buf: Buffer, start: number): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  let pos = start;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
    if (lineEnd < 0) return null;
    const sizeText = (buf.toString('latin1', pos, lineEnd).split(';')[0] ?? '').trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw protocolError(`a chunk size of ${JSON.stringify(sizeText.slice(0, 40))}`);
    const size = parseInt(sizeText, 16);
    pos = lineEnd + 2;
    if (size === 0) {
      // Trailers, then an empty line.
      for (;;) {
        const end = buf.indexOf('\r\n', pos, 'latin1');
        if (end < 0) return null;
        if (end === pos) return { body: Buffer.concat(parts), end: end + 2 };
        pos = end + 2;
      }
    }
    if (buf.length < pos + size + 2) return null;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

function protocolError(what: string): Error {
  return Object.assign(new Error(`S3 sent ${what}, which is not HTTP/1.1 this client reads`), { code: 'EPROTO' });
}

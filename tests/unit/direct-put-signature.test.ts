import { createHash, createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { leanPutFor } from '../../app/s3/direct-put.js';

/** node:crypto behind the interface the SDK's signer wants. */
type Source = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: Source): string | Uint8Array =>
  typeof d === 'string' ? d : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d);

class NodeSha256 {
  private readonly hash;
  constructor(secret?: Source) {
    this.hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: Source): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {}
}

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

/**
 * A server that answers every request with `answer` headers and keeps the last request's URL
 * and headers, and an S3 client pointed at it.
 */
async function recordingEndpoint(region: string, credentials: Credentials, answer: Record<string, string>) {
  const seen = { url: '', headers: {} as Record<string, string> };
  const server = createServer((req, res) => {
    Object.assign(seen, { url: req.url, headers: { ...req.headers } });
    req.resume();
    req.on('end', () => {
      for (const [name, value] of Object.entries(answer)) res.setHeader(name, value);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const s3 = new S3Client({ region, endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials });
  return {
    s3,
    seen,
    /** The Authorization the lean PUT sent, the one the SDK's signer makes of the same request, and the other headers sent. */
    async signatures(query: Record<string, string>, body: Buffer) {
      const headers = { ...seen.headers };
      const sent = headers.authorization as string;
      delete headers.authorization;
      delete headers['user-agent'];
      delete headers.connection;
      const amzDate = headers['x-amz-date'] as string;
      const signingDate = new Date(
        `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
      );
      // As the S3 client configures it: the path arrives encoded once and is not encoded again.
      const signer = new SignatureV4({ service: 's3', region, credentials, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
      const path = new URL(seen.url, 'http://x').pathname;
      const expected = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port, path, query, headers, body }, { signingDate });
      return { sent, expected: expected.headers.authorization, headers };
    },
    async close() {
      s3.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('the lean PUT signs exactly as the AWS SDK signer does', () => {
  it('same Authorization for a non-ASCII key with spaces, metadata and a session token', async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token-example' };
    const endpoint = await recordingEndpoint('ca-central-1', credentials, { ETag: '"abc"' });
    try {
      const put = await leanPutFor(endpoint.s3, 'lab-bucket', 2);
      expect(put).not.toBeNull();
      const body = Buffer.from('bytes of a lab file\n');
      const sha256 = createHash('sha256').update(body).digest('hex');
      const key = 'raw/BAT-1/données/résumé de la séance (1).txt';
      const result = await put!.putObject({ key, body, sha256, metadata: { sha256 } }, new AbortController().signal);
      expect(result.etag).toBe('"abc"');

      const { sent, expected, headers } = await endpoint.signatures({}, body);
      expect(endpoint.seen.url).toBe('/lab-bucket/raw/BAT-1/donn%C3%A9es/r%C3%A9sum%C3%A9%20de%20la%20s%C3%A9ance%20%281%29.txt');
      expect(sent).toBe(expected);
      expect(headers['x-amz-security-token']).toBe('session-token-example');
      expect(headers['x-amz-content-sha256']).toBe(sha256);
      put!.close();
    } finally {
      await endpoint.close();
    }
  });

  it('same Authorization for an UploadPart: query string, UNSIGNED-PAYLOAD and the part CRC32 signed', async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
    const endpoint = await recordingEndpoint('eu-west-1', credentials, { ETag: '"part-etag"', 'x-amz-checksum-crc32': 'AAAAAA==' });
    try {
      const put = await leanPutFor(endpoint.s3, 'lab-bucket', 2);
      const body = Buffer.from('the third part of a large file');
      // Upload ids are opaque: some servers' hold characters that must be encoded.
      const uploadId = 'VXBsb2FkIElE+/=~._-x!*';
      const result = await put!.putPart(
        { key: 'raw/BAT-1/frames 01.raw', uploadId, partNumber: 3, body, checksumCrc32: 'q83vEg==' },
        new AbortController().signal,
      );
      expect(result).toEqual({ etag: '"part-etag"', checksumCrc32: 'AAAAAA==' });

      const { sent, expected, headers } = await endpoint.signatures({ partNumber: '3', uploadId }, body);
      expect(endpoint.seen.url).toBe('/lab-bucket/raw/BAT-1/frames%2001.raw?partNumber=3&uploadId=VXBsb2FkIElE%2B%2F%3D~._-x%21%2A');
      expect(sent).toBe(expected);
      expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(headers['x-amz-checksum-crc32']).toBe('q83vEg==');
      put!.close();
    } finally {
      await endpoint.close();
    }
  });
});

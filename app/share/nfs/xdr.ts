/**
 * XDR (RFC 4506): big-endian, every item padded to a multiple of 4 bytes. Only what ONC RPC
 * and NFSv4.1 need.
 */
export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 512) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u32(v: number): this {
    this.reserve(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: bigint): this {
    this.reserve(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bool(v: boolean): this {
    return this.u32(v ? 1 : 0);
  }

  /** Fixed-length opaque: no length word. */
  fixed(bytes: Uint8Array): this {
    const padded = (bytes.length + 3) & ~3;
    this.reserve(padded);
    this.buf.set(bytes, this.pos);
    this.buf.fill(0, this.pos + bytes.length, this.pos + padded);
    this.pos += padded;
    return this;
  }

  /** Variable-length opaque: length word, bytes, padding. */
  opaque(bytes: Uint8Array): this {
    this.u32(bytes.length);
    return this.fixed(bytes);
  }

  string(s: string): this {
    return this.opaque(Buffer.from(s, 'utf8'));
  }

  /** Bytes written so far (a view, not a copy). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  get length(): number {
    return this.pos;
  }
}

export class XdrError extends Error {
  constructor(message: string) {
    super(`malformed XDR: ${message}`);
    this.name = 'XdrError';
  }
}

export class XdrReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
  ) {
    this.pos = start;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new XdrError(`needs ${n} bytes at offset ${this.pos}, message has ${this.buf.length}`);
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bool(): boolean {
    return this.u32() !== 0;
  }

  /** A view into the message, not a copy: READ data stays where the socket put it. */
  fixed(length: number): Buffer {
    const padded = (length + 3) & ~3;
    this.need(padded);
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += padded;
    return out;
  }

  opaque(maxLength = 0x7fffffff): Buffer {
    const length = this.u32();
    if (length > maxLength) throw new XdrError(`opaque of ${length} bytes exceeds ${maxLength}`);
    return this.fixed(length);
  }

  string(): string {
    return this.opaque().toString('utf8');
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }
}

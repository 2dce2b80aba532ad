import { nfsStatusError } from './nfs-error.js';
import { Attr, FILE_TYPES, NFS4_OK, type NfsFileType } from './protocol.js';
import { XdrReader, type XdrWriter } from './xdr.js';

/** What the server says about one object; never the target of a link (attributes are of the link itself). */
export interface NfsAttributes {
  type: NfsFileType;
  size: number;
  /** Modification time in nanoseconds since the epoch. */
  mtimeNs: bigint;
  /** Metadata change time (ctime) in nanoseconds since the epoch. */
  ctimeNs: bigint;
  /** NFSv4 change attribute: differs after any change to data or metadata. Null when the server has none. */
  change: bigint | null;
  fileid: bigint;
  mode: number;
  nlink: number;
}

const BASE_ATTRS = [Attr.TYPE, Attr.CHANGE, Attr.SIZE, Attr.FILEID, Attr.MODE, Attr.NUMLINKS, Attr.TIME_METADATA, Attr.TIME_MODIFY];
/** GETATTR: the object's own attributes. */
export const GETATTR_ATTRS = BASE_ATTRS;
/** READDIR: each entry's attributes and its handle, so listing a folder costs no LOOKUP per entry. */
export const READDIR_ATTRS = [...BASE_ATTRS, Attr.RDATTR_ERROR, Attr.FILEHANDLE];

export function writeBitmap(w: XdrWriter, attrs: readonly number[]): void {
  const words = new Array<number>((Math.max(...attrs) >>> 5) + 1).fill(0);
  for (const a of attrs) words[a >>> 5] = ((words[a >>> 5] as number) | (1 << (a & 31))) >>> 0;
  w.u32(words.length);
  for (const word of words) w.u32(word);
}

function readBitmap(r: XdrReader): number[] {
  const count = r.u32();
  const present: number[] = [];
  for (let i = 0; i < count; i++) {
    const word = r.u32();
    for (let bit = 0; bit < 32; bit++) if ((word >>> bit) & 1) present.push(i * 32 + bit);
  }
  return present;
}

const time = (r: XdrReader) => r.i64() * 1_000_000_000n + BigInt(r.u32());

export interface DecodedAttributes extends NfsAttributes {
  filehandle?: Buffer;
  /** The file system's largest READ, when asked for. */
  maxRead?: number;
}

/**
 * Reads an fattr4 (bitmap + packed values, in bit order). Only attributes this client asked
 * for can appear; the server leaves out those it does not support.
 */
export function readAttributes(r: XdrReader, what: string): DecodedAttributes {
  const present = readBitmap(r);
  const v = new XdrReader(r.opaque());
  const out: DecodedAttributes = { type: 'file', size: 0, mtimeNs: 0n, ctimeNs: 0n, change: null, fileid: 0n, mode: 0, nlink: 0 };
  let typeSeen = false;
  for (const attr of present) {
    switch (attr) {
      case Attr.TYPE: {
        const t = v.u32();
        const name = FILE_TYPES[t as keyof typeof FILE_TYPES];
        if (!name) throw new Error(`${what}: unknown file type ${t}`);
        out.type = name;
        typeSeen = true;
        break;
      }
      case Attr.CHANGE:
        out.change = v.u64();
        break;
      case Attr.SIZE:
        out.size = Number(v.u64());
        break;
      case Attr.RDATTR_ERROR: {
        const status = v.u32();
        if (status !== NFS4_OK) throw nfsStatusError(status, `${what}: attributes`);
        break;
      }
      case Attr.FILEHANDLE:
        out.filehandle = Buffer.from(v.opaque(128));
        break;
      case Attr.FILEID:
        out.fileid = v.u64();
        break;
      case Attr.MODE:
        out.mode = v.u32();
        break;
      case Attr.NUMLINKS:
        out.nlink = v.u32();
        break;
      case Attr.TIME_METADATA:
        out.ctimeNs = time(v);
        break;
      case Attr.TIME_MODIFY:
        out.mtimeNs = time(v);
        break;
      case Attr.MAXREAD:
        out.maxRead = Number(v.u64());
        break;
      default:
        throw new Error(`${what}: server sent attribute ${attr}, which was not asked for`);
    }
  }
  // Every other attribute has a usable default; a missing type would make a link look like a file.
  if (!typeSeen) throw new Error(`${what}: server sent no file type`);
  return out;
}

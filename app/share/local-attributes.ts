import type { BigIntStats } from 'node:fs';
import type { EntryType, ShareAttributes } from './share.js';

/** A local lstat/fstat as share attributes: local filesystems have no change counter to offer. */
export function attributesOf(st: BigIntStats): ShareAttributes {
  return { type: entryType(st), size: Number(st.size), mtimeNs: st.mtimeNs, change: null };
}

function entryType(st: BigIntStats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block_device';
  if (st.isCharacterDevice()) return 'character_device';
  return 'other';
}

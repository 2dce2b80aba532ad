import type { NfsAttributes } from './nfs/attributes.js';
import type { NfsFileType } from './nfs/protocol.js';
import type { EntryType, ShareAttributes } from './share.js';

const ENTRY_TYPES: Readonly<Record<NfsFileType, EntryType>> = {
  file: 'file',
  dir: 'dir',
  symlink: 'symlink',
  fifo: 'fifo',
  socket: 'socket',
  block: 'block_device',
  char: 'character_device',
  attrdir: 'other',
  namedattr: 'other',
};

/** The server's attributes of the object itself (a link's own, never its target's) as share attributes. */
export function nfsAttributes(a: NfsAttributes): ShareAttributes {
  return { type: ENTRY_TYPES[a.type], size: a.size, mtimeNs: a.mtimeNs, change: a.change };
}

/** Numbers from RFC 8881 (NFSv4.1) and RFC 5531 (ONC RPC) that this client uses. */

export const NFS_PROGRAM = 100003;
export const NFS_VERSION = 4;
export const NFS_MINOR_VERSION = 1;
export const PROC_NULL = 0;
export const PROC_COMPOUND = 1;

export const AUTH_NONE = 0;
export const AUTH_SYS = 1;

export const Op = {
  ACCESS: 3,
  CREATE: 6,
  GETATTR: 9,
  GETFH: 10,
  LOOKUP: 15,
  PUTFH: 22,
  PUTROOTFH: 24,
  READ: 25,
  READDIR: 26,
  REMOVE: 28,
  RENAME: 29,
  SAVEFH: 32,
  EXCHANGE_ID: 42,
  CREATE_SESSION: 43,
  DESTROY_SESSION: 44,
  DESTROY_CLIENTID: 57,
  SEQUENCE: 53,
  RECLAIM_COMPLETE: 58,
} as const;

/** nfsstat4 values this client reacts to by name; any other is reported by number. */
export const NFS4_STATUS: Readonly<Record<number, string>> = {
  0: 'NFS4_OK',
  1: 'NFS4ERR_PERM',
  2: 'NFS4ERR_NOENT',
  5: 'NFS4ERR_IO',
  6: 'NFS4ERR_NXIO',
  13: 'NFS4ERR_ACCESS',
  17: 'NFS4ERR_EXIST',
  18: 'NFS4ERR_XDEV',
  20: 'NFS4ERR_NOTDIR',
  21: 'NFS4ERR_ISDIR',
  22: 'NFS4ERR_INVAL',
  28: 'NFS4ERR_NOSPC',
  30: 'NFS4ERR_ROFS',
  63: 'NFS4ERR_NAMETOOLONG',
  66: 'NFS4ERR_NOTEMPTY',
  69: 'NFS4ERR_DQUOT',
  70: 'NFS4ERR_STALE',
  10001: 'NFS4ERR_BADHANDLE',
  10003: 'NFS4ERR_BAD_COOKIE',
  10004: 'NFS4ERR_NOTSUPP',
  10005: 'NFS4ERR_TOOSMALL',
  10006: 'NFS4ERR_SERVERFAULT',
  10007: 'NFS4ERR_BADTYPE',
  10008: 'NFS4ERR_DELAY',
  10011: 'NFS4ERR_EXPIRED',
  10013: 'NFS4ERR_GRACE',
  10014: 'NFS4ERR_FHEXPIRED',
  10016: 'NFS4ERR_WRONGSEC',
  10018: 'NFS4ERR_RESOURCE',
  10019: 'NFS4ERR_MOVED',
  10021: 'NFS4ERR_MINOR_VERS_MISMATCH',
  10022: 'NFS4ERR_STALE_CLIENTID',
  10029: 'NFS4ERR_SYMLINK',
  10032: 'NFS4ERR_ATTRNOTSUPP',
  10036: 'NFS4ERR_BADXDR',
  10040: 'NFS4ERR_BADCHAR',
  10041: 'NFS4ERR_BADNAME',
  10044: 'NFS4ERR_OP_ILLEGAL',
  10052: 'NFS4ERR_BADSESSION',
  10053: 'NFS4ERR_BADSLOT',
  10054: 'NFS4ERR_COMPLETE_ALREADY',
  10055: 'NFS4ERR_CONN_NOT_BOUND_TO_SESSION',
  10063: 'NFS4ERR_SEQ_MISORDERED',
  10065: 'NFS4ERR_REQ_TOO_BIG',
  10066: 'NFS4ERR_REP_TOO_BIG',
  10068: 'NFS4ERR_RETRY_UNCACHED_REP',
  10070: 'NFS4ERR_TOO_MANY_OPS',
  10077: 'NFS4ERR_BAD_HIGH_SLOT',
  10078: 'NFS4ERR_DEADSESSION',
  10082: 'NFS4ERR_WRONG_CRED',
  10083: 'NFS4ERR_WRONG_TYPE',
};

export const NFS4_OK = 0;
export const NFS4ERR_NOENT = 2;
export const NFS4ERR_STALE = 70;
export const NFS4ERR_DELAY = 10008;
export const NFS4ERR_GRACE = 10013;
export const NFS4ERR_FHEXPIRED = 10014;
export const NFS4ERR_COMPLETE_ALREADY = 10054;

/** The session or client ID is gone (server restarted, lease expired): make a new one and repeat. */
export const SESSION_LOST = new Set([10011, 10022, 10052, 10053, 10055, 10063, 10077, 10078]);

export const EXCHGID4_FLAG_USE_NON_PNFS = 0x00010000;

/** File attribute numbers (FATTR4_*). */
export const Attr = {
  TYPE: 1,
  FH_EXPIRE_TYPE: 2,
  CHANGE: 3,
  SIZE: 4,
  FSID: 8,
  RDATTR_ERROR: 11,
  FILEHANDLE: 19,
  FILEID: 20,
  MAXREAD: 30,
  MODE: 33,
  NUMLINKS: 35,
  TIME_METADATA: 52,
  TIME_MODIFY: 53,
} as const;

/** nfs_ftype4 → the names the share layer uses. */
export const FILE_TYPES = {
  1: 'file',
  2: 'dir',
  3: 'block',
  4: 'char',
  5: 'symlink',
  6: 'socket',
  7: 'fifo',
  8: 'attrdir',
  9: 'namedattr',
} as const;

export type NfsFileType = (typeof FILE_TYPES)[keyof typeof FILE_TYPES];

export const NF4DIR = 2;

/** ACCESS4_* bits: what ACCESS asks about a folder the agent creates and renames entries in. */
export const ACCESS4_LOOKUP = 0x02;
export const ACCESS4_MODIFY = 0x04;
export const ACCESS4_EXTEND = 0x08;
export const ACCESS4_DELETE = 0x10;

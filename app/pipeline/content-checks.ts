import { MAX_KEY_BYTES, overlongKeys } from './s3-keys.js';
import type { SessionListing } from '../share/session-listing.js';

const RESERVED_TOP_LEVEL = ['manifest.json', '_COMPLETE'];

/** Problems with a folder's contents that no retry can fix. */
export function contentProblem(listing: SessionListing): string | null {
  if (listing.invalidNames.length > 0) {
    return `file names that are not valid UTF-8 cannot become S3 keys: ${someOf(listing.invalidNames, 5)}`;
  }
  const reserved = listing.files.filter((f) => RESERVED_TOP_LEVEL.includes(f.relativePath)).map((f) => f.relativePath);
  if (reserved.length > 0) return `the session contains ${reserved.join(' and ')} at its top level, which the upload itself writes`;
  const control = listing.files.filter((f) => CONTROL_CHARACTER.test(f.relativePath)).map((f) => escapeControl(f.relativePath));
  if (control.length > 0) {
    return `file names with control characters make S3 keys that S3's XML listings cannot carry (ListObjects fails or alters them for whoever reads the prefix): ${someOf(control, 5)}; rename them, then run retry`;
  }
  return null;
}

// C0 controls and DEL: S3 accepts them in keys, but XML 1.0 cannot carry most of them, and
// parsers turn a carriage return into a line feed, so a listing breaks or names another key.
// eslint-disable-next-line no-control-regex -- these characters are what it looks for
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

function escapeControl(path: string): string {
  return [...path].map((c) => (CONTROL_CHARACTER.test(c) ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c)).join('');
}

/** Files whose S3 key would be too long; found before anything is uploaded. */
export function keyProblem(prefix: string, sessionId: string, listing: SessionListing): string | null {
  const overlong = overlongKeys(
    prefix,
    sessionId,
    listing.files.map((f) => f.relativePath),
  );
  if (overlong.length === 0) return null;
  const named = someOf(
    overlong.map((k) => `${k.relativePath} (${k.bytes} bytes)`),
    3,
  );
  return `${overlong.length} file(s) would get an S3 key longer than S3's limit of ${MAX_KEY_BYTES} bytes: ${named}; shorten their paths (or s3_prefix), then run retry`;
}

/** "a, b, c (+4 more)": the first `n` names, for a message an operator reads. */
export function someOf(names: readonly string[], n: number): string {
  return `${names.slice(0, n).join(', ')}${names.length > n ? ` (+${names.length - n} more)` : ''}`;
}

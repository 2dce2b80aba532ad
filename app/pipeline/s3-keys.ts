/** `{prefix}/{sessionId}/{relativePath}` with no empty segments, whatever slashes the prefix has. */
export function objectKey(prefix: string, sessionId: string, relativePath: string): string {
  return [...segments(prefix), sessionId, ...segments(relativePath)].join('/');
}

export function manifestKey(prefix: string, sessionId: string): string {
  return objectKey(prefix, sessionId, 'manifest.json');
}

export function completeKey(prefix: string, sessionId: string): string {
  return objectKey(prefix, sessionId, '_COMPLETE');
}

function segments(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/**
 * The files whose key would be longer than S3 allows, longest first, each with its key's
 * length: deep trees of long folder names under a long prefix reach it.
 */
export function overlongKeys(prefix: string, sessionId: string, relativePaths: readonly string[]): { relativePath: string; bytes: number }[] {
  return relativePaths
    .map((relativePath) => ({ relativePath, bytes: Buffer.byteLength(objectKey(prefix, sessionId, relativePath)) }))
    .filter((k) => k.bytes > MAX_KEY_BYTES)
    .sort((a, b) => b.bytes - a.bytes);
}

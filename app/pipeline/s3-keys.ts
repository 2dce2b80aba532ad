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

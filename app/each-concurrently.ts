/**
 * Runs `fn` for every item, at most `limit` at once, starting them in order. The first failure
 * starts no more; once the calls already started have finished, it is the error thrown (the
 * caller aborts those calls through its own signal if they should stop early).
 */
export async function eachConcurrently<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    while (failure === null && next < items.length) {
      const index = next++;
      try {
        await fn(items[index] as T, index);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
}

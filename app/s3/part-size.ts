/** S3 accepts at most 10,000 parts per upload, each at most 5 GiB. */
export const MAX_PARTS = 10_000;
const MIB = 1024 * 1024;

/**
 * The part size for a file: the configured one, or — for a file too large to fit in 10,000
 * parts of that size — the smallest whole number of MiB that fits (a 200 GiB camera file gets
 * 21 MiB parts). Memory grows with it only while such a file is in flight.
 */
export function partSizeFor(fileSize: number, configuredPartSize: number): number {
  if (fileSize <= configuredPartSize * MAX_PARTS) return configuredPartSize;
  return Math.ceil(fileSize / MAX_PARTS / MIB) * MIB;
}

/**
 * How many parts of one file may be in flight (read, hashed, sent) at once: as many as
 * `budgetBytes` (its share of upload.buffer_memory_mb) holds, at least one, at most
 * `concurrency`. A file whose parts were enlarged gets fewer, so a 1 TiB file's 105 MiB
 * parts go one at a time and memory stays near one part, not `concurrency` of them.
 */
export function partsInFlight(partSize: number, budgetBytes: number, concurrency: number): number {
  return Math.max(1, Math.min(concurrency, Math.floor(budgetBytes / partSize)));
}

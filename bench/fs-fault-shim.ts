import { execFileSync } from 'node:child_process';

/**
 * Compiles tests/fault/native/fsfault.c (given as `source`) into the LD_PRELOAD library at
 * `out`: the fault tests and the bench's --share-latency-us both load it.
 */
export function compileFsFaultShim(source: string, out: string): void {
  execFileSync('gcc', ['-shared', '-fPIC', '-O1', '-o', out, source, '-ldl']);
}

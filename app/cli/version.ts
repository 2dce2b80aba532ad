import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version in the project's package.json, found above this module (dist/app/cli or app/cli). */
export function agentVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lab-data-uploader' && pkg.version) return pkg.version;
    } catch {
      // no package.json at this level: look one up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** What `npm run build` reads. */
const SOURCES = ['app', 'demo', 'bench', 'scripts/bundle.mjs', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
/** What it writes last: the CLI children of the tests run these. */
const OUTPUTS = ['dist/app/cli/uploader-agent.cjs', 'dist/app/cli/agent.bundle.js'];

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), st.mtimeMs);
}

/**
 * vitest globalSetup: the CLI, fault and deploy tests run the built agent in dist/, so a test
 * file run straight after editing app/ would test the old code. When dist/ is missing or older
 * than its sources (newest mtimes compared), it is built first; a failed build fails the run.
 */
export default function ensureFreshBuild(): void {
  const outputs = OUTPUTS.map((p) => join(ROOT, p));
  const built = outputs.every((p) => existsSync(p)) ? Math.min(...outputs.map((p) => statSync(p).mtimeMs)) : -Infinity;
  const newestSource = Math.max(
    ...SOURCES.map((p) => join(ROOT, p))
      .filter((p) => existsSync(p))
      .map(newestMtime),
  );
  if (newestSource <= built) return;
  console.log(`[tests] dist/ is ${built === -Infinity ? 'missing' : 'older than its sources'}: running npm run build`);
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

// `npm run demo` and `npm run local-s3` build only when dist/ is missing or older than its
// sources: `npm ci` has just built everything (the prepare script), and a second build of the
// same sources costs a minute on a small machine.
//   node scripts/build-if-stale.mjs            build if stale
//   node scripts/build-if-stale.mjs --check DIR  print "fresh" (exit 0) or "stale" (exit 1) for the project in DIR
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const SOURCES = ['app', 'demo', 'bench', 'scripts/bundle.mjs', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];
// The first and the last things the build writes.
const OUTPUTS = ['dist/demo/run-demo.js', 'dist/app/cli/agent.bundle.js', 'dist/app/cli/uploader-agent.cjs'];

function newestMtime(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), st.mtimeMs);
}

export function isStale(root) {
  const built = OUTPUTS.map((o) => {
    try {
      return statSync(join(root, o)).mtimeMs;
    } catch {
      return 0;
    }
  });
  const oldestOutput = Math.min(...built);
  return oldestOutput === 0 || SOURCES.some((s) => newestMtime(join(root, s)) > oldestOutput);
}

const [flag, dir] = process.argv.slice(2);
if (flag === '--check') {
  const stale = isStale(dir ?? '.');
  process.stdout.write(stale ? 'stale\n' : 'fresh\n');
  process.exitCode = stale ? 1 : 0;
} else {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  if (isStale(root)) {
    process.exitCode = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' }).status ?? 1;
  }
}

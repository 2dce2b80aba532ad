// The agent as one ES module (dist/app/cli/agent.bundle.js), which the launcher loads: Node
// resolves, reads and compiles one file instead of some 1,400 (the AWS SDK alone is hundreds),
// which takes ~0.1 s off every start (see docs/performance.md). Run after `tsc`.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/app/cli/main.js'],
  outfile: 'dist/app/cli/agent.bundle.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // PGlite finds its WebAssembly next to its own files; pg-native is an optional addon of pg.
  external: ['@electric-sql/pglite', 'pg-native'],
  // A package's ES module build where it has one (the AWS SDK's dist-es): what is not
  // imported is left out, and there are fewer CommonJS wrappers to run at start (≈30 ms).
  mainFields: ['module', 'main'],
  // CommonJS dependencies inside an ES module still need require, __filename and __dirname.
  banner: {
    js: [
      "import { createRequire as __bundleRequire } from 'node:module';",
      "import { fileURLToPath as __bundlePath } from 'node:url';",
      "import { dirname as __bundleDir } from 'node:path';",
      'const require = __bundleRequire(import.meta.url);',
      'const __filename = __bundlePath(import.meta.url);',
      'const __dirname = __bundleDir(__filename);',
    ].join('\n'),
  },
  // Whitespace and syntax only: names stay readable in stack traces, and the smaller source
  // V8 keeps in memory takes ≈4 MB off the resident size.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  logLevel: 'warning',
});

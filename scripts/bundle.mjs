// The agent as one ES module (dist/app/cli/agent.bundle.js), which the launcher loads: Node
// resolves, reads and compiles one file instead of some 1,400 (the AWS SDK alone is hundreds),
// which takes ~0.1 s off every start (see docs/performance.md). And the launcher itself as one
// CommonJS file with the YAML parser it sizes the thread pool with: `require('yaml')` from
// node_modules is some 70 files, ≈35 ms of every start. Run after `tsc`.
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

// pg asks at load time whether it runs in Cloudflare Workers; where `navigator` is missing
// (Node 20) it answers by constructing a fetch `Response`, which loads undici: ≈30 ms of every
// start for a question whose answer here is always no. The build fails if pg changes the function.
const notCloudflare = {
  name: 'pg-not-cloudflare',
  setup(b) {
    b.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const head = 'function isCloudflareRuntime() {';
      if (!source.includes(head)) throw new Error(`${args.path}: isCloudflareRuntime() not found; check pg's runtime detection`);
      return { contents: source.replace(head, `${head}\n  return false;`), loader: 'js' };
    });
  },
};

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
  plugins: [notCloudflare],
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

await build({
  entryPoints: ['dist/app/cli/uploader-agent.cjs'],
  outfile: 'dist/app/cli/uploader-agent.cjs',
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});

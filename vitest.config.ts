import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The launcher's modules are CommonJS TypeScript (.cts), which Vite does not transform by default.
  oxc: { include: /\.[cm]?tsx?$/ },
  test: {
    include: ['tests/**/*.test.ts'],
    // Child agents run dist/: it is rebuilt first when older than app/ (see the file).
    globalSetup: ['tests/helpers/fresh-build.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration files each get their own schema and S3 server; two workers fit the 2-core machines.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

import { defineConfig } from 'vitest/config';

// One runner for the extension's pure code (src/) and the server (server/).
export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts', 'server/test/**/*.spec.ts'],
    environment: 'node',
    globalSetup: ['server/test/support/build-server.ts'],
    // A hang detector, not a speed check (timing lives in bench/): tests start real kernels, stores and
    // CLI processes, several files at once, on two cores.
    testTimeout: 60000,
    hookTimeout: 60000
  }
});

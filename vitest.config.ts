import { defineConfig } from 'vitest/config';

// One runner for the extension's pure code (src/) and the server (server/).
export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts', 'server/test/**/*.spec.ts'],
    environment: 'node',
    globalSetup: ['server/test/support/build-server.ts'],
    testTimeout: 30000,
    hookTimeout: 60000
  }
});

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests import the package by its public name, as users do.
    alias: {
      // The longer name first: an alias also matches the start of a longer import.
      'distribute/discovery/internals': fileURLToPath(new URL('./src/internals.ts', import.meta.url)),
      'distribute/discovery/testing': fileURLToPath(new URL('./src/testing.ts', import.meta.url)),
      'distribute/discovery': fileURLToPath(new URL('./src/discovery.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // No agent a test starts writes into the user's agent directory.
    globalSetup: ['test/support/global-setup.ts'],
    // The JSON report lets CI print a plain 'N passed, N failed' line.
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
    // Most files wait on sockets, timers, servers and child processes rather than the CPU: three at once
    // on two cores halves the suite (489 s → 227 s measured), which keeps it well inside CI's 10 minutes.
    maxWorkers: 3,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

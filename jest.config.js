// Tests are TypeScript transformed by esbuild (tests/esbuild-transform.js): fast, and it is the
// same compiler that bundles the modules. Type checking is `npm run typecheck` (tsc).
const transform = { '^.+\\.ts$': '<rootDir>/tests/esbuild-transform.js' };
const common = { transform, testEnvironment: 'node', rootDir: __dirname };
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/tests/integration/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/tests/e2e/**/*.test.ts'] },
  ],
};

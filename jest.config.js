/** Tests run on the real local Postgres and Redis; see test/support/global-setup.ts. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { target: 'es2023' }, module: { type: 'commonjs' } }],
  },
  // middy 7 and jose 6 ship ESM only (an "import"-only export map): point Jest at its files and compile them to CJS with ours.
  transformIgnorePatterns: ['/node_modules/(?!@middy/|jose/)'],
  moduleNameMapper: {
    '^@middy/core/StreamifyResponse$': '<rootDir>/node_modules/@middy/core/executionModeStreamifyResponse.js',
    '^@middy/([a-z-]+)$': '<rootDir>/node_modules/@middy/$1/index.js',
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
  testTimeout: 30000,
  // The suites start Redis servers, Postgres clusters, TCP proxies and browsers: one handle a failing
  // test leaks must not keep CI waiting until its time limit (it once did, after every test had run).
  // Find such a leak with `npx jest --detectOpenHandles <file>`.
  forceExit: true,
};

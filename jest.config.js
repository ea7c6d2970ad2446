/** Tests run on the real local Postgres and Redis; see test/support/global-setup.ts. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { target: 'es2023' }, module: { type: 'commonjs' } }],
  },
  // middy 7 ships ESM only (an "import" export condition), so it is resolved as ESM and compiled to CJS with the rest.
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  testEnvironmentOptions: { customExportConditions: ['node', 'import'] },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
  testTimeout: 30000,
};

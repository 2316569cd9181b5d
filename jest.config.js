/** ESM jest on Node 20: run with NODE_OPTIONS=--experimental-vm-modules (see package.json). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/localstack/.venv/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/localstack/.venv/'],
  testTimeout: 60000,
};

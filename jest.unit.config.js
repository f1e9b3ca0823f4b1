/**
 * Service unit tests on in-memory fakes (test/fakes): no PostgreSQL, no HTTP, seconds.
 * `npx jest -c jest.unit.config.js`; `npm test` runs them too (jest.config.js matches every *.test.ts).
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/*.unit.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
};

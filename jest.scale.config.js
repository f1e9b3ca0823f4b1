/** `npm run test:scale`: the million-row tests, with the same PostgreSQL set-up as `npm test`. */
const base = require('./jest.config');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/scale'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 1_200_000,
};

import { ageText } from './checkpoints';

describe('ageText', () => {
  it('says an age in its two largest units', () => {
    expect([0, 59, 60, 754, 3600, 3661, 86400 + 3600 + 61].map(ageText)).toEqual(['0s', '59s', '1m', '12m 34s', '1h', '1h 1m', '1d 1h']);
  });
});

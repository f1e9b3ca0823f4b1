import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Temporary directories that a test file makes, removed when it ends: `const temps = tempDirs('x-');
 * afterAll(() => temps.removeAll());` and `temps.make()` wherever a test needs one.
 */
export function tempDirs(prefix: string): { make(): string; removeAll(): void } {
  const made: string[] = [];
  return {
    make() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    removeAll() {
      for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

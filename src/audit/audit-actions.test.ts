import fs from 'node:fs';
import path from 'node:path';
import { DOC, withTable } from '../../scripts/audit-actions-doc';
import { AUDIT_ACTION_NAMES, auditDataProblem } from './audit-actions';

describe('the audit action catalogue', () => {
  it('is what docs/audit-format.md lists (npm run docs:audit-actions regenerates it)', () => {
    const doc = fs.readFileSync(DOC, 'utf8');
    expect(doc).toBe(withTable(doc));
    for (const action of AUDIT_ACTION_NAMES) expect(doc).toContain(`| \`${action}\` |`);
  });

  it('names every action the code appends literally: none is built from a template string', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (/\.ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)) {
          const text = fs.readFileSync(file, 'utf8');
          if (/\baction:\s*`/.test(text)) offenders.push(path.relative(process.cwd(), file));
          for (const m of text.matchAll(/\baction:\s*(?:[^,\n]*\?\s*)?'([a-z-]+\.[a-z_-]+)'(?:\s*:\s*'([a-z-]+\.[a-z_-]+)')?/g)) {
            for (const a of [m[1], m[2]]) if (a && auditDataProblem(a, {})?.includes('not in the audit action catalogue')) offenders.push(`${file}: ${a}`);
          }
        }
      }
    };
    walk(path.join(__dirname, '..'));
    expect(offenders).toEqual([]);
  });

  it('refuses data of another shape, and takes the shape it declares', () => {
    expect(auditDataProblem('workflow.moved', { fromSpace: 'A', toSpace: 'B', cause: 'webhook' })).toBeNull();
    expect(auditDataProblem('workflow.moved', { fromSpace: 'A', toSpace: 'B', cause: 'webhook', workflowTitle: 'Legal' })).toBeNull();
    expect(auditDataProblem('workflow.moved', { fromSpace: 'A', toSpace: 'B' })).toMatch(/^workflow.moved data: cause: /);
    expect(auditDataProblem('workflow.moved', { fromSpace: 'A', toSpace: 'B', cause: 'x', accountId: 'a' })).toMatch(/Unrecognized key/);
    expect(auditDataProblem('decision.made', {})).toMatch(/not in the audit action catalogue/);
  });
});

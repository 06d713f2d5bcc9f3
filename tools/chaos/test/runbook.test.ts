import fs from 'node:fs';
import path from 'node:path';
import { runBlock, runbookBlocks } from '../src/runbook';

describe('runbookBlocks', () => {
  it('returns the sh blocks only', () => {
    const md = [
      '# x',
      '```sh',
      'curl -fsS "$BASE/health/ready"',
      '```',
      '```console',
      'pnpm chaos --short',
      '```',
      '```sh',
      '```',
    ].join('\n');
    expect(runbookBlocks(md)).toEqual(['curl -fsS "$BASE/health/ready"']);
  });

  it('finds runnable blocks in docs/operations.md (the chaos run executes them against its stack)', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '../../../docs/operations.md'), 'utf8');
    expect(runbookBlocks(doc).length).toBeGreaterThanOrEqual(3);
  });
});

describe('runBlock', () => {
  it('fails a block whose pipeline fails, with its output', async () => {
    const ok = await runBlock('echo "$GREETING"', { GREETING: 'hello' });
    expect(ok).toMatchObject({ ok: true, exit: 'exit 0', output: 'hello\n' });
    const bad = await runBlock('false | cat; echo never', {});
    expect(bad.ok).toBe(false);
  });
});

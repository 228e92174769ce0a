import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * The layers, one way: primitives <- keys <- codecs <- src/config <- src/server <- src/cli, with
 * keys/admin/ beside the runtime and no circles (scripts/check-imports.mjs). Run on this tree it
 * must find nothing; run on a small tree that breaks every rule it must find each break.
 */

const run = promisify(execFile);
const SCRIPT = path.join(REPO_ROOT, 'scripts', 'check-imports.mjs');

async function check(root?: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [SCRIPT, ...(root ? ['--root', root] : [])]);
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

const scratch = mkdtempSync(path.join(tmpdir(), 'te-imports-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('import graph', () => {
  it('this tree: no circles, no upward imports, no runtime import of admin code', async () => {
    const { code, stdout } = await check();
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(/circles: 0\n/);
    expect(stdout).toMatch(/upward imports .*: 0\n/);
  });

  it('a tree that breaks each rule: every break is reported and the check fails', async () => {
    const files: Record<string, string> = {
      'primitives/low.ts': "import { a } from '../keys/a.js';\nexport const low = a;\n",
      'keys/a.ts': "import { b } from './b.js';\nexport const a = 1 + b;\n",
      'keys/b.ts': "import type { a } from './a.js';\nexport const b = 2 as typeof a;\n",
      'keys/runtime.ts': "export { rotate } from './admin/rotate.js';\n",
      'keys/admin/rotate.ts': 'export const rotate = 1;\n',
      'src/server/index.ts': "export * from './auth.js';\n",
      'src/server/auth.ts': 'export const hash = 1;\n',
      'src/cli/tokens.ts': "import { hash } from '../server/auth.js';\nconst where = './x.js';\nexport const t = hash + (await import(where)).x;\n",
      'src/cli/typo.ts': "export { nothing } from './missing.js';\n",
    };
    const root = path.join(scratch, 'broken');
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), text);
    }
    const { code, stdout } = await check(root);
    expect(code).toBe(1);
    expect(stdout).toContain('circles: 1');
    expect(stdout).toContain('keys/a.ts -> keys/b.ts');
    expect(stdout).toContain('keys/b.ts -> keys/a.ts');
    expect(stdout).toMatch(/upward imports .*: 1\n\s+primitives\/low\.ts:1 -> keys\/a\.ts/);
    expect(stdout).toMatch(/runtime imports of admin code: 1\n\s+keys\/runtime\.ts:1 -> keys\/admin\/rotate\.ts/);
    expect(stdout).toMatch(/past src\/server\/index\.ts: 1\n\s+src\/cli\/tokens\.ts:1 -> src\/server\/auth\.ts/);
    expect(stdout).toMatch(/named by an expression: 1\n\s+src\/cli\/tokens\.ts:3/);
    expect(stdout).toMatch(/name no file: 1\n\s+src\/cli\/typo\.ts:1: \.\/missing\.js/);
  });
});

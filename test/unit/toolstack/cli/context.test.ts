// Unit: the CLI's lazy logger writes pino JSON with the child's bindings, and loads nothing for records below its level.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { lazyLogger } from '../../../../toolstack/cli/context.js';

t.test('records below the level write nothing; enabled ones are pino JSON lines carrying the bindings', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-log-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'sub', 'chaos.log');
  const log = lazyLogger('warn', file);
  log.child({ domid: 3 }).info({ phase: 'finish' }, 'not at this level');
  t.notOk(fs.existsSync(file), 'nothing written (and pino not needed) below the level');
  log.child({ domid: 3, name: 'web' }).warn({ phase: 'finish', ms: 12 }, 'slow');
  const [line] = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.match(line, { level: 40, domid: 3, name: 'web', phase: 'finish', ms: 12, msg: 'slow' });
  lazyLogger('silent', file).fatal('never');
  t.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 1, 'silent writes nothing');
});

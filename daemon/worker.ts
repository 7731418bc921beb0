// A chaosd build worker: a child process with its own Xen handles that prepares, finishes and destroys shells on the parent's request (daemon/worker-protocol.ts).
// First: V8's flags are set before the code below first runs.
import './v8-flags.js';
import { pino } from 'pino';
import { openToolstack } from '../toolstack/index.js';
import { ChaosError } from '../toolstack/errors.js';
import type { Log } from '../toolstack/log.js';
import type { PhaseTimings } from '../toolstack/domain.js';
import { isRequest, WORKER_PROTOCOL, type WorkerReply, type WorkerRequest } from './worker-protocol.js';

/** argv: <state-dir> <log-level> [log-file] */
const [stateDir, level, file] = process.argv.slice(2);
if (!process.send || !stateDir) {
  process.stderr.write('chaosd worker: started by chaosd only (it talks over the IPC channel)\n');
  process.exit(2);
}
const dest = file ? pino.destination({ dest: file, append: true, mkdir: true, sync: true }) : pino.destination({ dest: 2, sync: true });
const log = pino({ level: level ?? 'info', base: { pid: process.pid, unit: 'chaosd-worker' } }, dest) as unknown as Log;
// chaosd passes its --dev-method in the environment (LIGHTVM_CHAOSD_DEV_METHOD): shells are made with it.
const { ts } = openToolstack({ stateDir, log, devMethod: process.env.LIGHTVM_CHAOSD_DEV_METHOD === 'noxs' ? 'noxs' : 'xenstore' });

const send = (r: WorkerReply) => process.send!(r);

// chaosd journals every create before its finish: the record may be written while the guest boots.
async function handle(m: WorkerRequest): Promise<void> {
  try {
    const timings: PhaseTimings = {};
    const value = m.op === 'prepare' ? await ts.prepare(m.size, { uuid: m.uuid, ...(m.devMethod === 'noxs' || m.devMethod === 'xenstore' ? { devMethod: m.devMethod } : {}) })
      : m.op === 'finish' ? await ts.finish(m.shell, m.cfg, { paused: m.paused, nameChecked: true, timings, recordAfterStart: true })
      : (await ts.destroyShell({ domid: m.domid, ...(m.devMethod ? { devMethod: m.devMethod } : {}) }), null);
    send({ v: WORKER_PROTOCOL, id: m.id, ok: true, value, ...(m.op === 'finish' ? { timings } : {}) });
  } catch (err) {
    const e = err instanceof ChaosError ? err : new ChaosError('INTERNAL', (err as Error)?.message ?? String(err));
    send({ v: WORKER_PROTOCOL, id: m.id, ok: false, error: { code: e.code, message: e.message, ...(e.key ? { key: e.key } : {}), ...(e.domid !== undefined ? { domid: e.domid } : {}) } });
  }
}

process.on('message', (m: unknown) => {
  if (!isRequest(m)) {
    log.error({ message: m }, 'a message that is not a worker request: ignored');
    return;
  }
  void handle(m);
});
// The parent going away (kill -9) closes the channel: a worker has nothing to do without it.
process.on('disconnect', () => process.exit(0));
// SIGTERM goes to the whole group under systemd: the parent decides when its workers stop.
process.on('SIGTERM', () => undefined);
process.on('SIGINT', () => undefined);
send({ v: WORKER_PROTOCOL, id: 0, ok: true, value: 'ready' });

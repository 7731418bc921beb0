// Is xenstored answering? One XS_GET_DOMAIN_PATH over its Unix socket, with a bound, so the toolstack fails fast instead of hanging.
import fs from 'node:fs';
import net from 'node:net';
import { HEADER_BYTES, header } from './xs-wire.js';

/** Where libxenstore finds xenstored's socket (XEN_RUN_STORED/socket); Debian's /var/run is /run. */
export const XENSTORED_SOCKETS = ['/run/xenstored/socket', '/var/run/xenstored/socket'];

/** xs_wire.h: XS_GET_DOMAIN_PATH; any answer (a path or an error) shows the daemon is alive. */
const XS_GET_DOMAIN_PATH = 10;

/** The first of `sockets` that is a socket here, or undefined (xenstored reached through /dev/xen/xenbus only, or not running). */
export function findXenstoredSocket(sockets: readonly string[] = XENSTORED_SOCKETS): string | undefined {
  return sockets.find((s) => { try { return fs.statSync(s).isSocket(); } catch { return false; } });
}

/**
 * 'up': xenstored answered; 'down': its socket refuses connections or nothing answered within
 * `timeoutMs` (a stopped or hung daemon); 'unknown': there is no socket here (xenstored may be
 * reached through /dev/xen/xenbus only, which cannot be probed without risking a hang).
 */
export function probeXenstored(timeoutMs: number, sockets: readonly string[] = XENSTORED_SOCKETS): Promise<'up' | 'down' | 'unknown'> {
  const socket = findXenstoredSocket(sockets);
  if (!socket) return Promise.resolve('unknown');
  return new Promise((resolve) => {
    const s = net.createConnection(socket);
    let got = 0;
    const done = (r: 'up' | 'down') => { clearTimeout(timer); s.destroy(); resolve(r); };
    const timer = setTimeout(() => done('down'), timeoutMs);
    s.on('connect', () => {
      const payload = Buffer.from('0\0', 'latin1');
      // req_id: ours, any value; no transaction.
      s.write(Buffer.concat([header(XS_GET_DOMAIN_PATH, 0x6c76, 0, payload.length), payload]));
    });
    s.on('data', (d: Buffer) => { got += d.length; if (got >= HEADER_BYTES) done('up'); });
    s.on('error', () => done('down'));
    s.on('close', () => done('down'));
  });
}

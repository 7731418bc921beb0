// Guest consoles: what is in a guest's console ring now (read straight from its page), and attaching to its pty.
import fs from 'node:fs';
import type { XenNative } from './xen/types.js';

/** struct xencons_interface (xen/io/console.h): in[1024], out[2048], then in_cons, in_prod, out_cons, out_prod. */
const OUT_OFFSET = 1024, OUT_SIZE = 2048, OUT_PROD_OFFSET = 3084;

/** The bytes still held in the output ring: up to the last 2 KiB the guest wrote, whoever consumed them. */
export async function readConsoleRing(xen: XenNative, domid: number, mfn: number): Promise<Buffer> {
  const page = await xen.foreignRead(domid, mfn, 0, 4096);
  const prod = page.readUInt32LE(OUT_PROD_OFFSET);
  const n = Math.min(prod, OUT_SIZE);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = page[OUT_OFFSET + ((prod - n + i) % OUT_SIZE)];
  return out;
}

export const ESCAPE = 0x1d; // Ctrl-]

/**
 * Connects the terminal to a guest's console pty (made by xenconsoled) until the guest's pty closes
 * or the user types Ctrl-]. Returns how it ended.
 */
export function attachPty(tty: string, input: NodeJS.ReadStream, output: NodeJS.WritableStream): Promise<'escape' | 'closed'> {
  return new Promise((resolve, reject) => {
    let fd: number;
    try {
      fd = fs.openSync(tty, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    } catch (err) {
      reject(err);
      return;
    }
    const rd = fs.createReadStream('', { fd, autoClose: false });
    const wasRaw = input.isTTY ? input.isRaw : false;
    if (input.isTTY) input.setRawMode(true);
    const done = (how: 'escape' | 'closed') => {
      input.off('data', onInput);
      if (input.isTTY) input.setRawMode(wasRaw);
      input.pause();
      rd.destroy();
      try { fs.closeSync(fd); } catch { /* already closed */ }
      resolve(how);
    };
    const onInput = (b: Buffer) => {
      const i = b.indexOf(ESCAPE);
      if (i >= 0) {
        if (i > 0) fs.writeSync(fd, b.subarray(0, i));
        done('escape');
        return;
      }
      fs.writeSync(fd, b);
    };
    rd.on('data', (b) => output.write(b));
    rd.on('error', () => done('closed'));
    rd.on('end', () => done('closed'));
    input.on('data', onInput);
    input.resume();
  });
}

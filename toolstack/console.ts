// Guest consoles: what is in a guest's console ring now (read straight from its page), and attaching to its pty.
import fs from 'node:fs';
import type { XenNative } from './xen/types.js';

/** struct xencons_interface (xen/io/console.h): in[1024], out[2048], then in_cons, in_prod, out_cons, out_prod. */
const OUT_OFFSET = 1024, OUT_SIZE = 2048, OUT_CONS_OFFSET = 3080, OUT_PROD_OFFSET = 3084;

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
 * Follows a console ring nobody else serves (a noxs domain: xenconsoled does not know it), as its
 * back end: prints what the guest writes and moves out_cons on, so the guest never finds the ring
 * full. Output only; ends when the user types Ctrl-] or the domain goes away. The producer index
 * comes from the guest: a value that claims more than the ring holds is clamped, never trusted.
 */
export function followRing(xen: XenNative, domid: number, mfn: number, input: NodeJS.ReadStream, output: NodeJS.WritableStream,
  opts: { intervalMs?: number } = {}): Promise<'escape' | 'closed'> {
  return new Promise((resolve) => {
    let stopped = false;
    const wasRaw = input.isTTY ? input.isRaw : false;
    const done = (how: 'escape' | 'closed') => {
      if (stopped) return;
      stopped = true;
      input.off('data', onInput);
      if (input.isTTY) input.setRawMode(wasRaw);
      input.pause();
      resolve(how);
    };
    const onInput = (b: Buffer) => { if (b.includes(ESCAPE)) done('escape'); };
    if (input.isTTY) input.setRawMode(true);
    input.on('data', onInput);
    input.resume();
    const tick = async () => {
      while (!stopped) {
        try {
          const page = await xen.foreignRead(domid, mfn, 0, 4096);
          const cons = page.readUInt32LE(OUT_CONS_OFFSET), prod = page.readUInt32LE(OUT_PROD_OFFSET);
          const n = Math.min((prod - cons) >>> 0, OUT_SIZE);
          if (n > 0) {
            const out = Buffer.alloc(n);
            for (let i = 0; i < n; i++) out[i] = page[OUT_OFFSET + ((prod - n + i) >>> 0) % OUT_SIZE]!;
            output.write(out);
            const c = Buffer.alloc(4);
            c.writeUInt32LE(prod >>> 0);
            await xen.foreignWrite(domid, mfn, OUT_CONS_OFFSET, c);
          }
        } catch {
          done('closed');
          return;
        }
        await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
      }
    };
    void tick();
  });
}

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

// Disk targets in dom0: the device number blkback opens, from a block device, or from a regular file put on a loop device.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { ChaosError } from '../errors.js';

const run = promisify(execFile);

/** What blkback needs: `physical-device` as "MAJOR:MINOR" in hex, and the loop device made for a file, if any. */
export interface OpenedTarget { physicalDevice: string; loop?: string }

/** The host side of disks, apart so that tests can stand in for it. */
export interface HostBlock {
  /** Checks the target and gives blkback a device for it; a file is attached to a loop device. */
  open(target: string, readOnly: boolean): Promise<OpenedTarget>;
  /** Detaches a loop device `open` made; while blkback still holds it, the kernel detaches it on its last close. */
  release(loop: string): Promise<void>;
}

/** Only these are ever detached: a value read back from XenStore is not trusted to name anything else. */
export const LOOP_RE = /^\/dev\/loop\d+$/;

/** glibc's major()/minor() of a dev_t, which Node gives as a number. */
export function deviceNumber(rdev: number): string {
  const major = Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
  return `${major.toString(16)}:${minor.toString(16)}`;
}

/**
 * The attach script: take the next free loop device and bind the file ($1) to it, retrying when another
 * process took that device first. busybox's `losetup -f FILE` does not say which device it used, hence
 * the two steps; util-linux's losetup takes the same arguments.
 */
const ATTACH = 'for i in 1 2 3 4 5 6 7 8; do d=$(losetup -f) || exit 1; losetup $2 "$d" "$1" 2>/dev/null && { echo "$d"; exit 0; }; done; exit 1';

/**
 * Loop devices through the losetup program. Running a program is acceptable for now, as xl's block
 * script does the same; LOOP_CTL_GET_FREE and LOOP_SET_FD ioctls in the native addon would save the
 * process start-up and are the way to go when disk attach time matters.
 */
export class LoopHostBlock implements HostBlock {
  async open(target: string, readOnly: boolean): Promise<OpenedTarget> {
    const st = await fs.stat(target).catch((err: NodeJS.ErrnoException) => {
      const reason = err.code === 'ENOENT' || err.code === 'ENOTDIR' ? 'does not exist' : `cannot be examined (${err.code ?? err.message})`;
      throw new ChaosError('CONFIG_INVALID', `the disk target ${target} ${reason}`, { key: 'disk', cause: err });
    });
    if (st.isBlockDevice()) return { physicalDevice: deviceNumber(st.rdev) };
    if (!st.isFile()) throw new ChaosError('CONFIG_INVALID', `the disk target ${target} is neither a regular file nor a block device`, { key: 'disk' });
    await fs.access(target, readOnly ? fs.constants.R_OK : fs.constants.R_OK | fs.constants.W_OK).catch((err: NodeJS.ErrnoException) => {
      throw new ChaosError('CONFIG_INVALID', `the disk target ${target} cannot be opened for ${readOnly ? 'reading' : 'reading and writing'} (${err.code ?? err.message})`, { key: 'disk', cause: err });
    });
    let loop: string;
    try {
      const { stdout } = await run('sh', ['-c', ATTACH, 'sh', target, readOnly ? '-r' : ''], { timeout: 30_000 });
      loop = stdout.trim();
    } catch (err) {
      throw new ChaosError('DEVICE', `no loop device could be attached to ${target} (losetup failed: is the loop module loaded?)`, { key: 'disk', cause: err });
    }
    if (!LOOP_RE.test(loop)) throw new ChaosError('DEVICE', `losetup gave ${JSON.stringify(loop)} for ${target}, not a loop device`, { key: 'disk' });
    try {
      return { physicalDevice: deviceNumber((await fs.stat(loop)).rdev), loop };
    } catch (err) {
      await this.release(loop).catch(() => undefined);
      throw new ChaosError('DEVICE', `the loop device ${loop} made for ${target} cannot be examined`, { key: 'disk', cause: err });
    }
  }

  async release(loop: string): Promise<void> {
    if (!LOOP_RE.test(loop)) throw new ChaosError('INTERNAL', `${JSON.stringify(loop)} is not a loop device: not detaching it`);
    try {
      await run('losetup', ['-d', loop], { timeout: 30_000 });
    } catch (err) {
      throw new ChaosError('DEVICE', `the loop device ${loop} could not be detached`, { cause: err });
    }
  }
}

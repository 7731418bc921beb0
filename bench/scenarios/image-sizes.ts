// Scenario: the size of every built guest image: the unikernels in guests/ and the tinyx VMs' kernel and initramfs.
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lab/config.js';
import { guestImages } from '../../lab/image.js';
import type { Sample } from '../record.js';
import type { Scenario } from '../scenario.js';

/** Sizes of the files as built on this machine (the ones the lab's image carries); no Xen needed. */
export function imageSizes(guestsDir: string, host: Sample['host'], at = new Date().toISOString()): Sample[] {
  const samples: Sample[] = [];
  const tinyx = new Map<string, number>();
  for (const g of guestImages(guestsDir)) {
    const bytes = fs.statSync(g.source).size;
    const parts = g.at.split('/');
    const kind = parts[0] === 'tinyx' ? 'tinyx' : 'unikernel';
    if (kind === 'tinyx') tinyx.set(parts[1], (tinyx.get(parts[1]) ?? 0) + bytes);
    samples.push({ scenario: 'image-sizes', metric: g.at, value: bytes / 1024, unit: 'KiB', host, at, parameters: { kind, file: `guests/${g.at}` } });
  }
  for (const [app, bytes] of tinyx) {
    samples.push({ scenario: 'image-sizes', metric: `tinyx/${app} (kernel + initramfs)`, value: bytes / 1024, unit: 'KiB', host, at, parameters: { kind: 'tinyx-total', file: `guests/tinyx/${app}` } });
  }
  return samples;
}

const scenario: Scenario = {
  name: 'image-sizes',
  description: 'size of each built guest image: unikernels (guests/<app>/) and tinyx VMs (kernel, initramfs, both)',
  memoryMiB: () => 0,
  estimateSeconds: () => 1,
  async run(_target, host, o) {
    const samples = imageSizes(path.join(PROJECT_ROOT, 'guests'), host);
    if (samples.length === 0) throw new Error('no built guest images under guests/: run `make -C guests` first');
    o.progress(`${samples.length} images`);
    return samples;
  },
};
export default scenario;

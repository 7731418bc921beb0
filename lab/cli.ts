#!/usr/bin/env node
// The `lab` command: up | run CMD | shell | status | down | install | image, for the Xen lab in QEMU.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Lab, mib } from './lab.js';
import { LabError } from './errors.js';
import { DEFAULTS, hostPorts, type LabConfig } from './config.js';
import { ensurePackages, LAB_PACKAGES, missingPackages } from './packages.js';
import { buildDom0Image } from './image.js';
import { parseXlInfo } from './xl.js';

interface Common {
  'state-dir'?: string; memory?: number; 'dom0-memory'?: number; cpus?: number; 'port-base'?: number;
  'boot-timeout'?: number; xen?: string; 'xen-arg'?: string[];
}

function labFrom(a: Common): Lab {
  const cfg: Partial<LabConfig> = {
    stateDir: a['state-dir'], memoryMiB: a.memory, dom0MemoryMiB: a['dom0-memory'], cpus: a.cpus,
    portBase: a['port-base'], bootTimeoutSec: a['boot-timeout'], xenImage: a.xen, xenArgs: a['xen-arg'] ?? [],
  };
  return new Lab(cfg);
}

const say = (line: string) => process.stderr.write(line + '\n');

function withMachineOptions<T>(y: Argv<T>) {
  return y
    .option('memory', { type: 'number', describe: 'memory of the QEMU machine, MiB', default: DEFAULTS.memoryMiB })
    .option('dom0-memory', { type: 'number', describe: "dom0's memory, MiB", default: DEFAULTS.dom0MemoryMiB })
    .option('cpus', { type: 'number', describe: 'vCPUs of the machine and of dom0', default: DEFAULTS.cpus })
    .option('boot-timeout', { type: 'number', describe: 'seconds to wait for dom0', default: DEFAULTS.bootTimeoutSec })
    .option('xen', { type: 'string', describe: "hypervisor: 'noxs' (xen-patches/build.sh's build, the default), 'stock' (Debian's) or an image file" })
    .option('xen-arg', { type: 'string', array: true, describe: 'extra Xen command-line word (repeatable)' })
    .option('install', { type: 'boolean', default: true, describe: 'install missing Debian packages (--no-install: fail instead)' });
}

async function main(): Promise<number> {
  let code = 0;
  const cli = yargs(hideBin(process.argv))
    .scriptName('lab')
    .usage('$0 <command>\n\nReal Xen 4.17 with a Debian dom0, booted in QEMU (TCG) on this machine.')
    .env('LIGHTVM_LAB')
    .parserConfiguration({ 'populate--': true })
    .option('state-dir', { type: 'string', describe: 'where the lab keeps its image, logs and state (default: <project>/.lab)' })
    .option('port-base', { type: 'number', describe: 'first host port on 127.0.0.1: agent, +1 chaosd API, +2 jitsud DNS', default: DEFAULTS.portBase })
    .command('up', 'build the dom0 image if needed, boot the lab and wait for dom0', (y) => withMachineOptions(y), async (a) => {
      const lab = labFrom(a as Common);
      await lab.up({ log: say, install: (a as { install?: boolean }).install !== false });
    })
    .command('down', 'stop the lab (ends QEMU)', (y) => y, async (a) => {
      const lab = labFrom(a as Common);
      say((await lab.down()) ? 'lab stopped' : 'no lab was running');
    })
    .command('status', 'is a lab running, and what it runs', (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }), async (a) => {
      const lab = labFrom(a as Common);
      const st = lab.state();
      let xen: Record<string, string> | undefined;
      if (st) {
        const r = await lab.run(['xl', 'info'], { timeoutMs: 60_000 }).catch(() => undefined);
        if (r?.code === 0) xen = parseXlInfo(r.stdout.toString());
      }
      if (a.json) {
        process.stdout.write(JSON.stringify({ running: !!st, ...(st ?? {}), agent: xen !== undefined, xen }, null, 2) + '\n');
      } else if (!st) {
        process.stdout.write('no lab is running\n');
      } else {
        const up = (Date.now() - Date.parse(st.startedAt)) / 1000;
        process.stdout.write([
          `lab running: QEMU pid ${st.pid}, up ${up.toFixed(0)} s (booted in ${st.bootSeconds.toFixed(1)} s)`,
          `  machine: ${st.config.memoryMiB} MiB, ${st.config.cpus} vCPUs; dom0 ${st.config.dom0MemoryMiB} MiB; image ${mib(st.imageBytes)}`,
          `  ports on 127.0.0.1: agent ${st.ports.agent}, chaosd API ${st.ports.api}, jitsud DNS ${st.ports.dns}/udp`,
          xen ? `  Xen ${xen.xen_version}, ${xen.nr_cpus} CPUs, free memory ${xen.free_memory} MiB of ${xen.total_memory} MiB` : '  the agent in dom0 does not answer',
        ].join('\n') + '\n');
      }
    })
    .command('run [cmd..]', 'run a command in dom0 (one argument goes to sh -c; use -- before options of the command)', (y) => y
      .positional('cmd', { type: 'string', array: true, describe: 'the command' })
      .option('timeout', { type: 'number', describe: 'seconds before the command is killed (0: none)', default: 0 }), async (a) => {
      const words = [...((a.cmd as string[] | undefined) ?? []), ...(((a as Record<string, unknown>)['--'] as string[] | undefined) ?? [])].map(String);
      if (words.length === 0) throw new LabError('EINVAL', 'lab run needs a command, e.g. `lab run xl list` or `lab run -- xl list -l`');
      const lab = labFrom(a as Common);
      const r = await lab.run(words.length === 1 ? words[0] : words, {
        timeoutMs: a.timeout ? a.timeout * 1000 : undefined,
        onStdout: (b) => process.stdout.write(b), onStderr: (b) => process.stderr.write(b),
        stdin: process.stdin.isTTY ? undefined : process.stdin,
      });
      if (r.timedOut) say(`lab: the command timed out after ${a.timeout} s`);
      code = r.code ?? 1;
    })
    .command('shell', 'an interactive shell in dom0', (y) => y, async (a) => {
      const lab = labFrom(a as Common);
      const { shell } = await import('./agent/client.js');
      code = await shell(lab.endpoint(), ['/bin/sh', '-l']);
    })
    .command('install', 'install the Debian packages the lab needs (needs root)', (y) => y, () => {
      const missing = missingPackages();
      if (!missing.length) { say(`all ${LAB_PACKAGES.length} packages the lab needs are installed`); return; }
      ensurePackages({ log: say });
      say('done');
    })
    .command('image', 'build the dom0 image only, and print its size', (y) => y, async (a) => {
      const lab = labFrom(a as Common);
      const img = await buildDom0Image(lab.config.stateDir, 'unused-token');
      for (const [name, l] of Object.entries(img.layers)) say(`${name}: ${mib(l.bytes)}${l.rebuilt ? ` (rebuilt in ${(l.ms / 1000).toFixed(1)} s)` : ' (unchanged)'}`);
      process.stdout.write(`${img.file} ${mib(img.bytes)}\n`);
    })
    .demandCommand(1, 'name a command: up, run, shell, status, down, install or image')
    .strict()
    .help()
    .epilog(`ports default to ${Object.values(hostPorts(DEFAULTS)).join(', ')} on 127.0.0.1; every option can be set as LIGHTVM_LAB_<OPTION> too`)
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`lab: ${msg}\nTry \`lab --help\`.\n`);
      process.exit(2);
    });
  await cli.parseAsync();
  return code;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  if (err instanceof LabError) {
    process.stderr.write(`lab: ${err.message}\n${err.details ? err.details.replace(/^/gm, '  ') + '\n' : ''}`);
  } else {
    process.stderr.write(`lab: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  process.exitCode = 1;
});

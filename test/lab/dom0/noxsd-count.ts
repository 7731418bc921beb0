// Runs in dom0: asks noxsd how many devices it holds (COUNT), for every domain and for each domid given; prints one JSON object.
//
// Usage: node noxsd-count.js [domid...]   {"total": N, "of": {"<domid>": N, ...}}
import { NoxsdClient } from '../../../toolstack/devices/noxsd-client.js';

const client = new NoxsdClient({ timeoutMs: 10_000 });

async function main(): Promise<{ total: number; of: Record<string, number> }> {
  const ids = process.argv.slice(2).map((a) => {
    const n = Number(a);
    if (!Number.isInteger(n) || n < 1 || n > 0x7fef) throw new Error(`${JSON.stringify(a)} is not a guest's domain id`);
    return n;
  });
  const of: Record<string, number> = {};
  for (const id of ids) of[id] = await client.count(id);
  return { total: await client.count(), of };
}

main().then(
  (out) => { process.stdout.write(JSON.stringify(out) + '\n'); },
  (err: Error) => { process.stdout.write(JSON.stringify({ fatal: err.message }) + '\n'); process.exitCode = 1; },
).finally(() => client.close());

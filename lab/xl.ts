// Reads what stock xl prints (info, list), for the lab's status, its tests and the xl baseline benchmarks.

/** `xl info` prints "key : value" lines. */
export function parseXlInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s*:\s?(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

export interface XlDomain { name: string; id: number; memMiB: number; vcpus: number; state: string; timeSec: number }

/** `xl list` prints a header, then "Name ID Mem VCPUs State Time(s)" columns; names have no spaces. */
export function parseXlList(text: string): XlDomain[] {
  const rows: XlDomain[] = [];
  for (const line of text.split('\n').slice(1)) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-rbpscd]{6})\s+([\d.]+)/.exec(line);
    if (m) rows.push({ name: m[1], id: Number(m[2]), memMiB: Number(m[3]), vcpus: Number(m[4]), state: m[5], timeSec: Number(m[6]) });
  }
  return rows;
}

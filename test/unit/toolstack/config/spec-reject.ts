// For tests of the spec parsers: a Reject that throws what it was given, so a test can check the code and the reason.
import type { Reject } from '../../../../toolstack/config/report.js';

export class Rejected extends Error {
  constructor(readonly code: string, readonly reason: string) {
    super(reason);
  }
}

export const reject: Reject = (code, reason) => {
  throw new Rejected(code, reason);
};

/** The rejection `fn` throws, or undefined. */
export function rejection(fn: () => unknown): Rejected | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof Rejected) return err;
    throw err;
  }
  return undefined;
}

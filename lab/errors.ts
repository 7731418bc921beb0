// Errors of the lab: one class with a stable code, a readable sentence and the cause.

export type LabErrorCode =
  | 'ENOTROOT'      // an action needs root (installing packages)
  | 'EINSTALL'      // apt-get failed or a package is unknown
  | 'EMISSING'      // a host file the lab needs is absent (kernel, hypervisor, qemu)
  | 'EPORTINUSE'    // a port to forward is taken on 127.0.0.1
  | 'EBOOT'         // QEMU exited or dom0 never became ready
  | 'ENOLAB'        // an action needs a running lab and none is up
  | 'ERUNNING'      // a lab is already up in this state directory
  | 'EIMAGE'        // building the dom0 image failed
  | 'EINVAL';       // a bad option value

export class LabError extends Error {
  readonly code: LabErrorCode;
  /** Extra lines shown under the message (e.g. the tail of the serial console). */
  readonly details?: string;

  constructor(code: LabErrorCode, message: string, opts: { cause?: unknown; details?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LabError';
    this.code = code;
    this.details = opts.details;
  }
}

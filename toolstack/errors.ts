// The toolstack's errors: one class, a stable code per kind of failure, a readable sentence and the cause (catalogue: docs/errors.md).

/** Every code, with the sentence docs/errors.md gives for it (a test keeps the two in step). */
export const ERROR_CODES = {
  CONFIG_NOT_FOUND: 'a configuration file does not exist or cannot be read',
  CONFIG_SYNTAX: 'a configuration file is not valid xl or JSON syntax',
  CONFIG_UNKNOWN_KEY: 'a configuration names a key the toolstack does not know',
  CONFIG_INVALID: 'a configuration value has the wrong type or is out of range',
  KERNEL_INVALID: 'the kernel is missing or is not an ELF kernel Xen can boot as a PV guest',
  DOMAIN_NOT_FOUND: 'no domain has that id or name',
  NAME_IN_USE: 'another domain already has that name',
  NO_MEMORY: 'the host does not have the memory the domain asks for',
  TIMEOUT: 'a guest or an operation did not answer in time',
  GUEST_STATE: 'the domain is not in a state that allows the operation',
  SAVE_INVALID: 'a save image cannot be read or written, or is not a lightvm save image',
  MIGRATION: 'a migration failed: the peer refused, broke off or could not be reached',
  DEVICE: 'dom0 could not set up or tear down a device of the domain',
  XENSTORE: 'XenStore refused or failed an operation',
  XEN_CALL: 'a call into Xen (hypercall or Xen library) failed',
  NATIVE_UNAVAILABLE: 'the native addon is not built or cannot be loaded here',
  NOT_SUPPORTED: 'the operation or option is not supported',
  REQUEST_INVALID: 'a request to chaosd is malformed: not JSON, an unknown field, a wrong type or too large',
  UNAVAILABLE: 'chaosd cannot take the request now: it is starting, shutting down or cannot be reached',
  INTERNAL: 'a bug in the toolstack',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorContext {
  cause?: unknown;
  domid?: number;
  /** The Xen library call that failed, for XEN_CALL. */
  call?: string;
  errno?: number;
  /** File, line and key for configuration errors. */
  file?: string;
  line?: number;
  /** Column (1-based) of a syntax error, when the parser knows it. */
  column?: number;
  key?: string;
}

export class ChaosError extends Error {
  readonly code: ErrorCode;
  readonly domid?: number;
  readonly call?: string;
  readonly errno?: number;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly key?: string;

  constructor(code: ErrorCode, message: string, ctx: ErrorContext = {}) {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = 'ChaosError';
    this.code = code;
    this.domid = ctx.domid;
    this.call = ctx.call;
    this.errno = ctx.errno;
    this.file = ctx.file;
    this.line = ctx.line;
    this.column = ctx.column;
    this.key = ctx.key;
  }
}

// The Xen layer's typed interface: what the native addon offers, one mechanical function per Xen call, no policy.

/** One entry of xc_domain_getinfolist. */
export interface DomainInfo {
  domid: number;
  /** The 16-byte handle as a UUID string. */
  handle: string;
  dying: boolean;
  crashed: boolean;
  shutdown: boolean;
  paused: boolean;
  blocked: boolean;
  running: boolean;
  hvm: boolean;
  /** Valid when shutdown is true: SHUTDOWN_poweroff 0, reboot 1, suspend 2, crash 3, watchdog 4, soft_reset 5. */
  shutdownReason: number;
  /** Pages the domain holds now. */
  nrPages: number;
  /** Its maximum, in KiB (xc_dominfo max_memkb). */
  maxMemKiB: number;
  cpuTimeNs: number;
  nrOnlineVcpus: number;
  maxVcpuId: number;
  cpupool: number;
  ssidref: number;
}

export interface PhysInfo {
  nrCpus: number;
  cpuKHz: number;
  totalPages: number;
  freePages: number;
  scrubPages: number;
  /** e.g. "hvm" / "pv" capability flags from the sysctl. */
  capabilities: string[];
}

export interface XenVersion { major: number; minor: number; extra: string; capabilities: string }

export interface CreateDomainParams {
  /** UUID string (xen_domctl_createdomain.handle). */
  handle: string;
  maxVcpus: number;
  /** -1 (default) lets Xen choose. */
  maxEvtchnPort?: number;
  maxGrantFrames: number;
  maxMaptrackFrames: number;
  /** XEN_DOMCTL_CDF_* bits; 0 for a PV guest. */
  flags?: number;
  ssidref?: number;
  /** Wanted domain id; 0 (default) lets Xen pick one. */
  domid?: number;
}

export interface BuildPvParams {
  domid: number;
  /** A file path, or the image itself. */
  kernel: string | Buffer;
  ramdisk?: string | Buffer;
  cmdline: string;
  /** Memory populated for the guest, MiB. */
  memMiB: number;
  maxVcpus: number;
  consolePort: number;
  consoleDomid: number;
  storePort: number;
  storeDomid: number;
  /** Feature string for xc_dom_allocate, usually empty. */
  features?: string;
  /**
   * Run the build on the calling (JS) thread instead of libuv's thread pool: the promise is settled
   * when the call returns, and the caller's event loop waits for the whole build. For a caller with
   * nothing else to do meanwhile, to whom the hop to the pool and back costs more than it saves.
   */
  onCallingThread?: boolean;
}

export interface BuildPvResult {
  /** Machine frames of the console and xenstore rings (what xenconsoled and xs_introduce_domain need). */
  consoleMfn: number;
  storeMfn: number;
  /** The kernel's GUEST_OS note, e.g. "lightvm-noop" or "linux". */
  guestOs: string;
  /** Milliseconds each libxenguest call of the build took, by call name (xc_dom_boot_mem_init is the memory's population). */
  stepsMs?: Record<string, number>;
}

export interface DomainSaveParams {
  domid: number;
  /** Where the stream goes: a file or a pipe, blocking (the addon clears O_NONBLOCK). The caller keeps ownership. */
  fd: number;
  /** Live: pre-copy rounds while the guest runs, then suspend and send what changed (xc_domain_save XCFLAGS_LIVE). */
  live: boolean;
  /**
   * libxc calls this (on the JS thread) when it needs the guest suspended: at once for a plain save,
   * after the pre-copy rounds for a live one. Resolve `true` once Xen reports the domain shut down for
   * suspend; `false` (or a rejection) abandons the save.
   */
  onSuspend(): Promise<boolean>;
}

export interface DomainRestoreParams {
  /** A domain made for the purpose (same maxVcpus, limits set), not yet built. */
  domid: number;
  fd: number;
  storePort: number;
  storeDomid: number;
  consolePort: number;
  consoleDomid: number;
}

export type XsPerm = { domid: number; read: boolean; write: boolean };

/** One XenStore operation of a batch; results come back in the same order. */
export type XsOp =
  | { op: 'read'; path: string }
  | { op: 'write'; path: string; value: string }
  | { op: 'mkdir'; path: string }
  | { op: 'rm'; path: string }
  | { op: 'directory'; path: string }
  | { op: 'setPermissions'; path: string; perms: XsPerm[] }
  | { op: 'getPermissions'; path: string };

export type XsResult = string | string[] | XsPerm[] | null | undefined;

export interface XsBatchResult {
  /** False when the transaction hit a conflict (EAGAIN) and nothing was committed: run the batch again. */
  committed: boolean;
  results: XsResult[];
}

/** One device entry of a noxs device page (struct noxs_dev in xen-patches/include/noxs.h). */
export interface NoxsDevEntry {
  /** NOXS_DEV_*: power 1, vif 2, vbd 3. */
  type: number;
  id: number;
  beDomid: number;
  /** Grant reference of the device's control page. */
  grant: number;
  /** The back-end's event channel port. */
  evtchn: number;
}

/** struct noxs_devctl's input fields, passed to Xen as given (an unknown version or op is Xen's to refuse). */
export interface DevctlRequest {
  version: number;
  op: number;
  /** A domain id, or noxs.DOMID_SELF. */
  domid: number;
  /** DEV_ADD: the entry; DEV_REM: its type and id. Omitted numbers are 0. */
  dev?: Pick<NoxsDevEntry, 'type' | 'id'> & Partial<NoxsDevEntry>;
  /** DEV_ENUM: entries to copy out, 0 .. noxs.PAGE_MAX_DEVS. */
  max?: number;
}

/** What devctl writes back: `frame` for GET; `count` and `devs` for DEV_ENUM; nothing for the others. */
export interface DevctlResult { frame?: number; count?: number; devs?: NoxsDevEntry[] }

/** The noxs ABI's numbers, read by the addon from xen-patches/include/noxs.h. */
export interface NoxsConstants {
  HYPERCALL: number; VERSION: number;
  OP_GET: number; OP_DEV_ADD: number; OP_DEV_REM: number; OP_DEV_ENUM: number;
  DEV_POWER: number; DEV_VIF: number; DEV_VBD: number;
  DOMID_SELF: number; PAGE_MAX_DEVS: number; PAGE_MAGIC: number; PAGE_VERSION: number;
}

/** A list of domains as domainListChanges returned it: pass it back unchanged to the next call. */
export interface DomainIdList {
  /** The addon's packed entries (domid and handle, sorted by domid). */
  readonly packed: Buffer;
  /** How many domains it holds. */
  readonly count: number;
}

/** What domainListChanges found: the list now, the domains new since the earlier list, and the ids gone. */
export interface DomainListChanges {
  list: DomainIdList;
  /** New domains (a reused id with a new handle is one of them, and its id is also in `removed`). */
  added: { domid: number; handle: string }[];
  removed: number[];
}

/** The native addon, as the toolstack sees it. Every call rejects with a NativeError on failure. */
export interface XenNative {
  version(): Promise<XenVersion>;
  physinfo(): Promise<PhysInfo>;

  domainCreate(p: CreateDomainParams): Promise<number>;
  /** xc_domain_max_vcpus: creates the vCPUs; `max` must equal the domain's maxVcpus. Needed before vcpuSetAffinity and buildPv. */
  domainMaxVcpus(domid: number, max: number): Promise<void>;
  domainSetMaxMem(domid: number, kib: number): Promise<void>;
  domainSetMemmapLimit(domid: number, kib: number): Promise<void>;
  vcpuSetAffinity(domid: number, vcpu: number, cpus: number[]): Promise<void>;
  domainPause(domid: number): Promise<void>;
  domainUnpause(domid: number): Promise<void>;
  domainShutdown(domid: number, reason: number): Promise<void>;
  domainDestroy(domid: number): Promise<void>;
  domainGetInfoList(first: number, max: number): Promise<DomainInfo[]>;
  /**
   * Every domain's (domid, handle), and what came and went since `previous` (a list an earlier call
   * returned; none: every domain is new). A long-running caller keeps the list and handles only the
   * changes, instead of a pass over every domain.
   */
  domainListChanges(previous?: DomainIdList): Promise<DomainListChanges>;
  evtchnAllocUnbound(domid: number, remoteDomid: number): Promise<number>;

  buildPv(p: BuildPvParams): Promise<BuildPvResult>;

  /** xc_domain_save: the domain's save stream into `fd`; the domain stays suspended afterwards. */
  domainSave(p: DomainSaveParams): Promise<void>;
  /** xc_domain_restore: builds the domain from a save stream; it is left paused. Returns the new ring frames. */
  domainRestore(p: DomainRestoreParams): Promise<{ storeMfn: number; consoleMfn: number }>;
  /** xc_domain_resume: runs a suspended domain again; `fast` tells a cooperative guest its suspend was cancelled. */
  domainResume(domid: number, fast: boolean): Promise<void>;
  /** pipe2(O_CLOEXEC), synchronous: [readFd, writeFd], both blocking. The caller closes both. */
  pipe(): [number, number];

  /** Runs the operations in one XenStore transaction (or none, if `transaction` is false) on one worker. */
  xsBatch(ops: XsOp[], transaction: boolean): Promise<XsBatchResult>;
  xsIntroduceDomain(domid: number, mfn: number, port: number): Promise<void>;
  xsReleaseDomain(domid: number): Promise<void>;
  /** Watches `path`; `onEvent(path, token)` runs on the JS thread for every change. Returns an id for xsUnwatch. */
  xsWatch(path: string, token: string, onEvent: (path: string, token: string) => void): Promise<number>;
  xsUnwatch(id: number): Promise<void>;

  /** Copies bytes out of one page of a guest (foreign mapping, read-only). */
  foreignRead(domid: number, mfn: number, offset: number, length: number): Promise<Buffer>;
  /** Writes bytes into one page of a guest. */
  foreignWrite(domid: number, mfn: number, offset: number, data: Buffer): Promise<void>;
  /** Binds to a guest's event channel port; returns the local port. */
  evtchnBindInterdomain(domid: number, remotePort: number): Promise<number>;
  evtchnNotify(localPort: number): Promise<void>;
  evtchnUnbind(localPort: number): Promise<void>;
}

/** The addon's noxs part (loadDevctl() in native.ts): apart from XenNative, which test doubles implement. */
export interface DevctlNative {
  /** The devctl hypercall of lightvm's patched Xen (noxs); ENOSYS on a stock hypervisor. */
  devctl(req: DevctlRequest): Promise<DevctlResult>;
  readonly noxs: NoxsConstants;
}

/** What a failed native call rejects with. */
export interface NativeError extends Error {
  /** The Xen library function, e.g. "xc_domain_create". */
  call: string;
  errno: number;
  /** errno's name, e.g. "ENOENT". */
  code: string;
  domid?: number;
  /** What the library said beyond errno (libxc's last error message), or the XenStore path an operation failed on. */
  detail?: string;
}

/** The addon's network functions (native/src/uevent.cc, native/src/netif.cc). */
export interface NetNative {
  /** Opens and polls a NETLINK_KOBJECT_UEVENT socket bound to the kernel's group; returns its id. Throws a NativeError. */
  ueventOpen(onEvent: (kind: 'message' | 'overflow' | 'error', data: Buffer | string, senderPid: number) => void): number;
  ueventClose(id: number): void;
  netBridgeAddIf(bridge: string, ifname: string): Promise<void>;
  netBridgeDelIf(bridge: string, ifname: string): Promise<void>;
  netLinkSetUp(ifname: string, up: boolean): Promise<void>;
}

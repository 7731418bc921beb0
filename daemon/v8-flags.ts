// V8 settings for chaosd and its workers, set before any of their code first runs: imported first by both entry points.
import v8 from 'node:v8';

/**
 * A daemon serves a create now and then, not thousands a second, so V8 would go on interpreting its
 * request path (bytecode) for thousands of requests before it compiles it. With Sparkplug, V8's
 * baseline compiler, at each function's first call, the path runs as machine code from the first
 * request on; the cost is a quick compile per function and some memory for its code. Measured in the
 * lab (docs/chaosd.md): a create request to the guest's ready mark took about a quarter less (63-65 against 87-92 ms). Set
 * LIGHTVM_V8_BASELINE=0 in the environment to leave V8's defaults (for comparisons).
 */
if (process.env.LIGHTVM_V8_BASELINE !== '0') v8.setFlagsFromString('--always-sparkplug');

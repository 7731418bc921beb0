// Domain handles: Xen's 16 bytes to and from the UUID strings the toolstack uses.
#ifndef LIGHTVM_NATIVE_UUID_H
#define LIGHTVM_NATIVE_UUID_H

#include <cstdint>
#include <string>

namespace lightvm {

/** Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex digits in any case); false if it is not exactly that. */
bool ParseUuid(const std::string& s, uint8_t out[16]);
/** Lower-case "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
std::string FormatUuid(const uint8_t in[16]);

}  // namespace lightvm

#endif

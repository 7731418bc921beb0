// Domain handles: Xen's 16 bytes to and from UUID strings, strictly 8-4-4-4-12 hex digits.
#include "uuid.h"

namespace lightvm {

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDash(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

}  // namespace

bool ParseUuid(const std::string& s, uint8_t out[16]) {
  if (s.size() != 36) return false;
  size_t j = 0;
  for (size_t i = 0; i < 36;) {
    if (IsDash(i)) {
      if (s[i] != '-') return false;
      i++;
      continue;
    }
    // i and i + 1 are both digits here: dashes sit at even gaps, so a pair never straddles one.
    int hi = Hex(s[i]), lo = Hex(s[i + 1]);
    if (hi < 0 || lo < 0 || j >= 16) return false;
    out[j++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return j == 16;
}

std::string FormatUuid(const uint8_t in[16]) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t j = 0; j < 16; j++) {
    if (j == 4 || j == 6 || j == 8 || j == 10) s.push_back('-');
    s.push_back(kDigits[in[j] >> 4]);
    s.push_back(kDigits[in[j] & 0xf]);
  }
  return s;
}

}  // namespace lightvm

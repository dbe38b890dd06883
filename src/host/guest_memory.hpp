// host/guest_memory.hpp: reading and writing a guest's linear memory from host functions
// (internal to the host layer). Every access is checked first with in_guest(); the helpers
// themselves do not check. Little-endian, unaligned, as wasm is.
// Thread safety: none needed — a host function runs on the thread of its instance's call.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

namespace wasimancer::host::guest {

// True if [ptr, ptr + len) lies inside `mem` (no overflow for any 64-bit values).
inline bool in_guest(std::span<uint8_t> mem, uint64_t ptr, uint64_t len) { return ptr <= mem.size() && len <= mem.size() - ptr; }

inline uint32_t get_u32(std::span<uint8_t> mem, uint64_t ptr) {
  uint32_t v;
  std::memcpy(&v, mem.data() + ptr, 4);
  return v;
}
inline void put_u16(std::span<uint8_t> mem, uint64_t ptr, uint16_t v) { std::memcpy(mem.data() + ptr, &v, 2); }
inline void put_u32(std::span<uint8_t> mem, uint64_t ptr, uint32_t v) { std::memcpy(mem.data() + ptr, &v, 4); }
inline void put_u64(std::span<uint8_t> mem, uint64_t ptr, uint64_t v) { std::memcpy(mem.data() + ptr, &v, 8); }

}  // namespace wasimancer::host::guest

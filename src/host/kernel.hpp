// host/kernel.hpp: Extism's kernel memory, implemented natively.
//
// A separate arena from the plugin's linear memory. Plugins see opaque u64 offsets (0 = null)
// and copy bytes through load/store. Allocation is a bump pointer, so a freed offset is never
// handed out again within a call (PDKs double-free routinely); freed blocks are reused only when
// the arena is full, as Extism's kernel does. reset() reclaims everything before each call.
// Out-of-range loads read 0 and out-of-range stores are ignored: nothing here ever traps.
//
// Ownership: the Kernel owns its arena. Thread safety: none; one Kernel per plugin instance,
// used by the thread running that instance's call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wasimancer::host {

class Kernel {
 public:
  // `max_bytes` caps the arena (the plugin's memory limit applies to kernel memory too).
  explicit Kernel(uint64_t max_bytes);

  uint64_t alloc(uint64_t n);  // 0 when n == 0 or the arena is full
  void free(uint64_t offset);  // no-op for 0, unknown or already freed offsets
  // Length of the active block starting exactly at `offset`; 0 otherwise.
  uint64_t length(uint64_t offset) const;

  uint8_t load_u8(uint64_t offset) const;
  uint64_t load_u64(uint64_t offset) const;  // little-endian, unaligned
  void store_u8(uint64_t offset, uint8_t v);
  void store_u64(uint64_t offset, uint64_t v);

  // Invalidates every block and clears input, output and error.
  void reset();

  void input_set(uint64_t offset, uint64_t length);
  uint64_t input_offset() const { return input_off_; }
  uint64_t input_length() const;
  uint8_t input_load_u8(uint64_t i) const;
  uint64_t input_load_u64(uint64_t i) const;

  void output_set(uint64_t offset, uint64_t length) { output_off_ = offset; output_len_ = length; }
  uint64_t output_offset() const { return output_off_; }
  uint64_t output_length() const { return output_len_; }

  void error_set(uint64_t offset) { error_off_ = offset; }
  uint64_t error_get() const { return error_off_; }

  uint64_t memory_bytes() const { return top_; }
  uint64_t max_bytes() const { return max_bytes_; }

  // Host-side helpers.
  // The bytes of the active block at `offset`, or nullopt if it is not one.
  std::optional<std::string_view> block(uint64_t offset) const;
  // Raw bytes [offset, offset+len) if they lie inside the arena, else nullopt.
  std::optional<std::string_view> range(uint64_t offset, uint64_t len) const;
  // Allocates a block holding `data`; 0 if empty or the arena is full.
  uint64_t alloc_bytes(std::string_view data);

 private:
  struct Block {
    uint64_t offset;
    uint64_t capacity;
    uint64_t length;
    bool active;
  };
  const Block* find(uint64_t offset) const;
  Block* find(uint64_t offset);
  bool in_range(uint64_t offset, uint64_t n) const { return offset >= kBase && offset <= top_ && n <= top_ - offset; }

  static constexpr uint64_t kBase = 8;  // offsets below this are never valid; 0 is null

  uint64_t max_bytes_;
  std::vector<uint8_t> arena_;  // arena_[i] is the byte at offset i
  uint64_t top_ = kBase;        // next free offset
  std::vector<Block> blocks_;   // sorted by offset (bump allocation appends)
  uint64_t input_off_ = 0, input_len_ = 0;
  uint64_t output_off_ = 0, output_len_ = 0;
  uint64_t error_off_ = 0;
};

}  // namespace wasimancer::host

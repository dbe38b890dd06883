#include "host/kernel.hpp"

#include <algorithm>
#include <cstring>

namespace wasimancer::host {

Kernel::Kernel(uint64_t max_bytes) : max_bytes_(max_bytes) {}

const Kernel::Block* Kernel::find(uint64_t offset) const {
  auto it = std::lower_bound(blocks_.begin(), blocks_.end(), offset,
                             [](const Block& b, uint64_t off) { return b.offset < off; });
  if (it == blocks_.end() || it->offset != offset) return nullptr;
  return &*it;
}

Kernel::Block* Kernel::find(uint64_t offset) {
  return const_cast<Block*>(static_cast<const Kernel*>(this)->find(offset));
}

uint64_t Kernel::alloc(uint64_t n) {
  if (n == 0) return 0;
  if (n <= max_bytes_ && top_ <= max_bytes_ - n) {
    uint64_t off = top_;
    uint64_t need = top_ + n;
    if (need > arena_.size()) {
      uint64_t cap = std::max<uint64_t>(need, std::max<uint64_t>(arena_.size() * 2, 64 * 1024));
      cap = std::min<uint64_t>(cap, max_bytes_);
      try {
        arena_.resize(cap);
      } catch (const std::bad_alloc&) {
        return 0;
      }
    }
    top_ = need;
    blocks_.push_back(Block{off, n, n, true});
    return off;
  }
  // The arena is full: reuse the first freed block that is large enough.
  for (Block& b : blocks_) {
    if (!b.active && b.capacity >= n) {
      b.active = true;
      b.length = n;
      return b.offset;
    }
  }
  return 0;
}

void Kernel::free(uint64_t offset) {
  Block* b = find(offset);
  if (!b || !b->active) return;
  b->active = false;
  if (offset == input_off_) input_len_ = 0;
}

uint64_t Kernel::length(uint64_t offset) const {
  const Block* b = find(offset);
  return (b && b->active) ? b->length : 0;
}

uint8_t Kernel::load_u8(uint64_t offset) const { return in_range(offset, 1) ? arena_[offset] : 0; }

uint64_t Kernel::load_u64(uint64_t offset) const {
  if (!in_range(offset, 8)) return 0;
  uint64_t v;
  std::memcpy(&v, &arena_[offset], 8);  // x86-64 and wasm are both little-endian
  return v;
}

void Kernel::store_u8(uint64_t offset, uint8_t v) {
  if (in_range(offset, 1)) arena_[offset] = v;
}

void Kernel::store_u64(uint64_t offset, uint64_t v) {
  if (in_range(offset, 8)) std::memcpy(&arena_[offset], &v, 8);
}

void Kernel::reset() {
  blocks_.clear();
  top_ = kBase;
  input_off_ = input_len_ = output_off_ = output_len_ = error_off_ = 0;
  // Give back the memory of an unusually large call.
  if (arena_.size() > 4 * 1024 * 1024) {
    arena_.clear();
    arena_.shrink_to_fit();
  }
}

void Kernel::input_set(uint64_t offset, uint64_t length) {
  input_off_ = offset;
  input_len_ = length;
}

uint64_t Kernel::input_length() const { return input_len_; }

uint8_t Kernel::input_load_u8(uint64_t i) const {
  if (i >= input_len_) return 0;
  return load_u8(input_off_ + i);
}

uint64_t Kernel::input_load_u64(uint64_t i) const {
  if (i > input_len_ || input_len_ - i < 8) return 0;
  return load_u64(input_off_ + i);
}

std::optional<std::string_view> Kernel::block(uint64_t offset) const {
  const Block* b = find(offset);
  if (!b || !b->active) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(arena_.data() + b->offset), b->length);
}

std::optional<std::string_view> Kernel::range(uint64_t offset, uint64_t len) const {
  if (len == 0) return std::string_view();
  if (!in_range(offset, len)) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(arena_.data() + offset), len);
}

uint64_t Kernel::alloc_bytes(std::string_view data) {
  uint64_t off = alloc(data.size());
  if (off) std::memcpy(&arena_[off], data.data(), data.size());
  return off;
}

}  // namespace wasimancer::host

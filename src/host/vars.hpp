// host/vars.hpp: a plugin version's variable store (Extism vars).
//
// One store per plugin version, owned by its CompiledPlugin, shared by all its instances and
// kept across calls; it is cleared when the plugin is updated (a new version gets a new store).
// Size accounting follows Extism: every entry costs key + value + 48 bytes, and a set that would
// take the total past max_bytes fails with "Variable store is full"; max_bytes == 0 disables vars.
// Thread safety: all methods are safe from any thread (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace wasimancer::host {

class VarStore {
 public:
  static constexpr uint64_t kEntryOverhead = 48;

  explicit VarStore(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  std::optional<std::string> get(std::string_view key) const;
  // An empty optional value deletes the key.
  Result<void> set(std::string_view key, std::optional<std::string_view> value);
  void clear();
  uint64_t bytes() const;
  size_t size() const;
  std::map<std::string, std::string, std::less<>> snapshot() const;

 private:
  mutable std::mutex mu_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::map<std::string, std::string, std::less<>> vars_;
};

}  // namespace wasimancer::host

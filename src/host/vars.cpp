#include "host/vars.hpp"

namespace wasimancer::host {

std::optional<std::string> VarStore::get(std::string_view key) const {
  std::lock_guard lock(mu_);
  auto it = vars_.find(key);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

Result<void> VarStore::set(std::string_view key, std::optional<std::string_view> value) {
  if (max_bytes_ == 0) return Error(ErrorKind::HostError, "Vars are disabled by this host");
  std::lock_guard lock(mu_);
  auto it = vars_.find(key);
  uint64_t old_cost = it == vars_.end() ? 0 : it->first.size() + it->second.size() + kEntryOverhead;
  if (!value) {
    if (it != vars_.end()) {
      bytes_ -= old_cost;
      vars_.erase(it);
    }
    return {};
  }
  uint64_t new_cost = key.size() + value->size() + kEntryOverhead;
  if (bytes_ - old_cost + new_cost > max_bytes_) {
    return Error(ErrorKind::HostError, "Variable store is full");
  }
  bytes_ = bytes_ - old_cost + new_cost;
  if (it == vars_.end()) {
    vars_.emplace(std::string(key), std::string(*value));
  } else {
    it->second.assign(value->data(), value->size());
  }
  return {};
}

void VarStore::clear() {
  std::lock_guard lock(mu_);
  vars_.clear();
  bytes_ = 0;
}

uint64_t VarStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t VarStore::size() const {
  std::lock_guard lock(mu_);
  return vars_.size();
}

std::map<std::string, std::string, std::less<>> VarStore::snapshot() const {
  std::lock_guard lock(mu_);
  return vars_;
}

}  // namespace wasimancer::host

#include "core/health.hpp"

namespace wasimancer::health {

void Readiness::add(const std::string& name, Check check) {
  std::lock_guard lock(mu_);
  checks_[name] = std::move(check);
}

void Readiness::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  checks_.erase(name);
}

Readiness::Report Readiness::check() const {
  std::map<std::string, Check> checks;
  {
    std::lock_guard lock(mu_);
    checks = checks_;
  }
  Report r;
  for (const auto& [name, fn] : checks) {
    Result res{name, true, {}};
    if (auto why = fn()) {
      res.ok = false;
      res.reason = *why;
      r.ready = false;
    }
    r.checks.push_back(std::move(res));
  }
  return r;
}

}  // namespace wasimancer::health

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

void Readiness::add_fact(const std::string& name, Fact fact) {
  std::lock_guard lock(mu_);
  facts_[name] = std::move(fact);
}

void Readiness::remove_fact(const std::string& name) {
  std::lock_guard lock(mu_);
  facts_.erase(name);
}

Readiness::Report Readiness::check() const {
  std::map<std::string, Check> checks;
  std::map<std::string, Fact> facts;
  {
    std::lock_guard lock(mu_);
    checks = checks_;
    facts = facts_;
  }
  Report r;
  for (const auto& [name, fn] : facts) r.facts.emplace_back(name, fn());
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

// core/health.hpp: readiness checks for /readyz. Each part of the server that must be working
// before traffic is sent registers a named check (the plugins loaded at start-up; a shared
// registry's database, when there is one); /readyz is 200 when every check passes, 503 with
// the reasons otherwise. Liveness (/healthz) needs no check: answering is the proof.
//
// Ownership: owns its checks; what a check reads must outlive it (or the check be removed).
// Thread safety: every method is safe from any thread; checks run on the caller's thread and
// must be quick (no network round trip longer than a second).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wasimancer::health {

class Readiness {
 public:
  // nullopt: ready; a string: why not.
  using Check = std::function<std::optional<std::string>()>;

  // Adds (or replaces) the check called `name`.
  void add(const std::string& name, Check check);
  void remove(const std::string& name);
  // A figure /readyz reports beside the checks (the database revision a replica serves).
  using Fact = std::function<uint64_t()>;
  void add_fact(const std::string& name, Fact fact);
  void remove_fact(const std::string& name);

  struct Result {
    std::string name;
    bool ok = true;
    std::string reason;  // empty when ok
  };
  struct Report {
    bool ready = true;
    std::vector<Result> checks;  // in name order
    std::vector<std::pair<std::string, uint64_t>> facts;  // in name order
  };
  Report check() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Check> checks_;
  std::map<std::string, Fact> facts_;
};

}  // namespace wasimancer::health

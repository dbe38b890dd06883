// core/metrics.hpp: a small, lock-light metrics registry (counters, gauges, histograms with
// fixed buckets, labels) and its Prometheus text exposition (format 0.0.4).
//
//   Family<Counter>   a metric name with label names; with({"a","b"}) finds or makes the child for
//                     those label values. The child's address is stable for the registry's life,
//                     so a call site may keep it (hot paths look children up once).
//   Counter           monotonic; inc() is a relaxed add on one of kStripes cache-line-sized cells
//                     picked per thread, so threads on different cores do not share a line.
//   Gauge             a value set or moved up and down (striped like Counter).
//   Histogram         fixed upper bounds given at creation; observe() is one relaxed add on the
//                     bucket, the count and the sum of the thread's stripe.
//   Registry::add_collector  values computed at scrape time (pool sizes, sessions, tiers), from
//                     a callback that must be cheap and safe from any thread.
//
// Recording can be switched off for the whole process (set_enabled(false), WASIMANCER_METRICS=off):
// call sites check enabled() first and skip the work, which is how `make bench` measures what
// recording costs.
//
// Ownership: the process registry (metrics::registry()) lives until exit; families and children
// are owned by it and never removed. Thread safety: everything is safe from any thread. Looking
// up a child takes a shared lock (an exclusive one only the first time a label set is seen);
// recording takes no lock.
#pragma once

#include <algorithm>
#include <atomic>
#include <initializer_list>
#include <span>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace wasimancer::metrics {

// Whether call sites record (default true). Cheap: one relaxed load.
bool enabled();
void set_enabled(bool on);

constexpr size_t kStripes = 8;

// The stripe of the calling thread (fixed per thread).
size_t stripe();

class Counter {
 public:
  void inc(uint64_t n = 1) { cells_[stripe()].v.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<uint64_t> v{0};
  };
  Cell cells_[kStripes];
};

class Gauge {
 public:
  // For a gauge one thread sets (not mixed with add() from other threads).
  void set(double v);
  // Striped like Counter (in-flight gauges move twice per request on every thread).
  void add(double d) { cells_[stripe()].v.fetch_add(d, std::memory_order_relaxed); }
  double value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<double> v{0};
  };
  Cell cells_[kStripes];
};

// Adds one to a gauge for as long as it lives (a move carries the hold). Default: holds nothing.
class GaugeHold {
 public:
  GaugeHold() = default;
  explicit GaugeHold(Gauge* g) : g_(g) {
    if (g_) g_->add(1);
  }
  GaugeHold(GaugeHold&& o) noexcept : g_(o.g_) { o.g_ = nullptr; }
  GaugeHold& operator=(GaugeHold&& o) noexcept {
    if (this != &o) {
      release();
      g_ = o.g_;
      o.g_ = nullptr;
    }
    return *this;
  }
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;
  ~GaugeHold() { release(); }
  void release() {
    if (g_) g_->add(-1);
    g_ = nullptr;
  }

 private:
  Gauge* g_ = nullptr;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct alignas(64) Stripe {
    std::unique_ptr<std::atomic<uint64_t>[]> buckets;  // bounds + 1 (+Inf)
    std::atomic<uint64_t> count{0};
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  Stripe stripes_[kStripes];
};

// Default latency buckets, in seconds (0.25 ms to 60 s).
const std::vector<double>& latency_buckets();

using Labels = std::vector<std::string>;

// One metric name: HELP text, label names, and a child per label-value set.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual std::string_view type() const = 0;
  virtual void expose(std::string& out) const = 0;

 protected:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  const uint64_t id_;  // unique in the process, never reused (with()'s per-thread cache)
};

template <typename T>
class Family final : public FamilyBase {
 public:
  using Maker = std::function<std::unique_ptr<T>()>;
  Family(std::string name, std::string help, std::vector<std::string> label_names, Maker make)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names)), make_(std::move(make)) {}

  // The child for these label values (as many as label names; missing ones are empty). No
  // allocation when the child exists. Children are never removed and their keys never change, so
  // each thread keeps the children it found lately (a small table by hash of the values): a
  // repeated lookup compares a few strings and takes no lock (the shared lock's count was a
  // cache line every recording thread wrote: 240 ns per request's recordings on one thread,
  // 1.1-1.2 µs each on two).
  T& with(std::initializer_list<std::string_view> values) { return with(std::span(values.begin(), values.size())); }
  T& with(std::span<const std::string_view> values);
  std::string_view type() const override;
  void expose(std::string& out) const override;

 private:
  Maker make_;
  mutable std::shared_mutex mu_;
  struct Less {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                          [](std::string_view x, std::string_view y) { return x < y; });
    }
  };
  std::map<Labels, std::unique_ptr<T>, Less> children_;
};

// A sample produced by a collector at scrape time.
struct Sample {
  Labels labels;
  double value = 0;
};

class Registry {
 public:
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<std::string> labels,
                               std::vector<double> bounds = latency_buckets());
  // A gauge (or counter, with type "counter") whose samples `collect` returns at scrape time.
  // Returns a token for remove_collector (a collector must be removed before what it reads goes).
  uint64_t add_collector(std::string name, std::string help, std::string type, std::vector<std::string> labels,
                         std::function<std::vector<Sample>()> collect);
  void remove_collector(uint64_t token);

  // The Prometheus text exposition of every family, in registration order.
  std::string expose() const;

 private:
  struct Collector;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::map<std::string, FamilyBase*> by_name_;
  std::map<uint64_t, std::shared_ptr<Collector>> collectors_;
  uint64_t next_token_ = 1;
  template <typename T>
  Family<T>& add(std::string name, std::string help, std::vector<std::string> labels, typename Family<T>::Maker make);
};

// The process registry.
Registry& registry();

// Text helpers, exposed for tests.
std::string escape_label_value(std::string_view v);
std::string format_value(double v);

// ---- the server's own metrics ------------------------------------------------------------------

// What a tool call ended with, as a label value: ok, plugin_error, trap, timeout, cancelled, oom,
// crash, host_error, denied_host (a host error from the HTTP policy), invalid_arguments.
std::string_view outcome_label(const Error* error);

// Records one tool call: wasimancer_tool_calls_total{tool,plugin,version,outcome} and
// wasimancer_tool_call_duration_seconds{tool,plugin,version}.
void record_tool_call(std::string_view tool, std::string_view plugin, std::string_view version, std::string_view outcome,
                      double seconds);
// wasimancer_mcp_requests_total{transport,protocol,mode} (mode: "session", or "stateless" for
// requests served without a session: 2026-07-28 requests and sessionless POSTs) and the hold of
// wasimancer_mcp_requests_in_flight{transport,protocol,mode} for as long as the request lives
// (nothing when recording is off).
GaugeHold record_mcp_request(std::string_view transport, std::string_view protocol, std::string_view mode);
// wasimancer_http_responses_total{route,status}.
void record_http_response(std::string_view route, unsigned status);
// wasimancer_http_direct_writes_total: HTTP answers the worker that produced them took to send
// itself (what the socket did not take at once, the connection's thread sends), without a
// hand-off to the connection's thread. Recorded before the send.
void record_http_direct_write();
// The route label of a request path (a fixed set, so hostile paths cannot grow the label space).
std::string_view route_label(std::string_view path);
// wasimancer_admin_changes_total{object,action,result}.
void record_admin_change(std::string_view object, std::string_view action, bool ok);
// wasimancer_native_build_seconds{opt,result}.
void record_native_build(std::string_view opt_level, bool ok, double seconds);
// wasimancer_sandbox_workers_started_total, _worker_crashes_total{plugin}, _quarantines_total{plugin},
// wasimancer_sandbox_workers (live).
void record_worker_started();
void record_worker_ended();
void record_worker_crash(std::string_view plugin);
void record_quarantine(std::string_view plugin);
// wasimancer_host_http_requests_total{outcome}: a plugin's outgoing HTTP (ok, denied, error).
void record_host_http(std::string_view outcome);

}  // namespace wasimancer::metrics

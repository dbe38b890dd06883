#include "core/metrics.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/thread_index.hpp"

namespace wasimancer::metrics {

namespace {
std::atomic<bool> g_enabled{true};
std::atomic<uint64_t> g_next_family{1};
}  // namespace

FamilyBase::FamilyBase(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
      id_(g_next_family.fetch_add(1, std::memory_order_relaxed)) {}

bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

size_t stripe() {
  return thread_index() % kStripes;
}

// ---- values -------------------------------------------------------------------------------------

uint64_t Counter::value() const {
  uint64_t total = 0;
  for (const auto& c : cells_) total += c.v.load(std::memory_order_relaxed);
  return total;
}

void Gauge::set(double v) {
  cells_[0].v.store(v, std::memory_order_relaxed);
  for (size_t i = 1; i < kStripes; ++i) cells_[i].v.store(0, std::memory_order_relaxed);
}

double Gauge::value() const {
  double total = 0;
  for (const auto& c : cells_) total += c.v.load(std::memory_order_relaxed);
  return total;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  for (auto& s : stripes_) {
    s.buckets = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
    for (size_t i = 0; i <= bounds_.size(); ++i) s.buckets[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::observe(double v) {
  // Buckets are few (under 20): a linear scan beats a binary search here.
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  Stripe& s = stripes_[stripe()];
  s.buckets[i].fetch_add(1, std::memory_order_relaxed);
  s.count.fetch_add(1, std::memory_order_relaxed);
  s.sum.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  snap.cumulative.assign(bounds_.size() + 1, 0);
  for (const auto& s : stripes_) {
    for (size_t i = 0; i <= bounds_.size(); ++i) snap.cumulative[i] += s.buckets[i].load(std::memory_order_relaxed);
    snap.sum += s.sum.load(std::memory_order_relaxed);
  }
  for (size_t i = 1; i < snap.cumulative.size(); ++i) snap.cumulative[i] += snap.cumulative[i - 1];
  // The count is the +Inf bucket, so a scrape racing an observe() never sees count < buckets.
  snap.count = snap.cumulative.back();
  return snap;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,     0.25,   0.5,   1,      2.5,   5,    10,   30,  60};
  return b;
}

// ---- text ---------------------------------------------------------------------------------------

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// {a="x",b="y"} plus an optional extra label (le for buckets); "" when there are none.
std::string label_text(const std::vector<std::string>& names, const Labels& values, std::string_view extra_name = {},
                       std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += escape_label_value(i < values.size() ? values[i] : std::string());
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

void header(std::string& out, const std::string& name, const std::string& help, std::string_view type) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, type);
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

// ---- families -----------------------------------------------------------------------------------

template <typename T>
T& Family<T>::with(std::span<const std::string_view> values) {
  // This thread's recent children (see the header): an entry is used only for the family whose
  // id it holds, and ids are never reused, so its pointers are those of a live family's node.
  struct Entry {
    uint64_t family = 0;
    const Labels* key = nullptr;
    T* child = nullptr;
  };
  constexpr size_t kEntries = 32;
  thread_local Entry cache[kEntries];
  uint64_t h = 1469598103934665603ull ^ id_;  // FNV-1a over the values, seeded by the family
  for (std::string_view v : values) {
    for (unsigned char c : v) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator: ("ab","") differs from ("a","b")
  }
  Entry& e = cache[(h ^ (h >> 29)) % kEntries];
  auto same = [&](const Labels& key) {
    for (size_t i = 0; i < key.size(); ++i) {
      if (key[i] != (i < values.size() ? values[i] : std::string_view())) return false;
    }
    return values.size() <= key.size();
  };
  if (e.family == id_ && same(*e.key)) return *e.child;
  {
    std::shared_lock lock(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) {
      e = Entry{id_, &it->first, it->second.get()};
      return *it->second;
    }
  }
  Labels key(label_names_.size());
  for (size_t i = 0; i < key.size() && i < values.size(); ++i) key[i] = std::string(values[i]);
  std::unique_lock lock(mu_);
  auto& slot = children_[std::move(key)];
  if (!slot) slot = make_();
  return *slot;
}

template <>
std::string_view Family<Counter>::type() const { return "counter"; }
template <>
std::string_view Family<Gauge>::type() const { return "gauge"; }
template <>
std::string_view Family<Histogram>::type() const { return "histogram"; }

template <>
void Family<Counter>::expose(std::string& out) const {
  header(out, name_, help_, type());
  std::shared_lock lock(mu_);
  for (const auto& [labels, c] : children_) {
    out += fmt::format("{}{} {}\n", name_, label_text(label_names_, labels), c->value());
  }
}

template <>
void Family<Gauge>::expose(std::string& out) const {
  header(out, name_, help_, type());
  std::shared_lock lock(mu_);
  for (const auto& [labels, g] : children_) {
    out += fmt::format("{}{} {}\n", name_, label_text(label_names_, labels), format_value(g->value()));
  }
}

template <>
void Family<Histogram>::expose(std::string& out) const {
  header(out, name_, help_, type());
  std::shared_lock lock(mu_);
  for (const auto& [labels, h] : children_) {
    auto snap = h->snapshot();
    const auto& bounds = h->bounds();
    for (size_t i = 0; i <= bounds.size(); ++i) {
      std::string le = i < bounds.size() ? format_value(bounds[i]) : "+Inf";
      out += fmt::format("{}_bucket{} {}\n", name_, label_text(label_names_, labels, "le", le), snap.cumulative[i]);
    }
    std::string l = label_text(label_names_, labels);
    out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name_, l, format_value(snap.sum), name_, l, snap.count);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- registry -----------------------------------------------------------------------------------

struct Registry::Collector {
  std::string name, help, type;
  std::vector<std::string> labels;
  std::function<std::vector<Sample>()> collect;
};

template <typename T>
Family<T>& Registry::add(std::string name, std::string help, std::vector<std::string> labels, typename Family<T>::Maker make) {
  std::lock_guard lock(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    // The same name registered twice (a second server in one process, tests) is the same family.
    if (auto* f = dynamic_cast<Family<T>*>(it->second)) return *f;
  }
  auto fam = std::make_unique<Family<T>>(name, std::move(help), std::move(labels), std::move(make));
  Family<T>& ref = *fam;
  by_name_[name] = fam.get();
  families_.push_back(std::move(fam));
  return ref;
}

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> labels) {
  return add<Counter>(std::move(name), std::move(help), std::move(labels), [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> labels) {
  return add<Gauge>(std::move(name), std::move(help), std::move(labels), [] { return std::make_unique<Gauge>(); });
}

Family<Histogram>& Registry::histogram(std::string name, std::string help, std::vector<std::string> labels,
                                       std::vector<double> bounds) {
  return add<Histogram>(std::move(name), std::move(help), std::move(labels),
                        [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
}

uint64_t Registry::add_collector(std::string name, std::string help, std::string type, std::vector<std::string> labels,
                                 std::function<std::vector<Sample>()> collect) {
  auto c = std::make_shared<Collector>(Collector{std::move(name), std::move(help), std::move(type), std::move(labels), std::move(collect)});
  std::lock_guard lock(mu_);
  uint64_t token = next_token_++;
  collectors_[token] = std::move(c);
  return token;
}

void Registry::remove_collector(uint64_t token) {
  std::lock_guard lock(mu_);
  collectors_.erase(token);
}

std::string Registry::expose() const {
  std::vector<const FamilyBase*> families;
  std::vector<std::shared_ptr<Collector>> collectors;
  {
    std::lock_guard lock(mu_);
    for (const auto& f : families_) families.push_back(f.get());
    for (const auto& [token, c] : collectors_) collectors.push_back(c);
  }
  std::string out;
  out.reserve(16384);
  for (const auto* f : families) f->expose(out);
  // Collectors of one name (e.g. two servers in one process) are merged under one header.
  std::map<std::string, std::vector<const Collector*>> by_name;
  std::vector<std::string> order;
  for (const auto& c : collectors) {
    if (!by_name.count(c->name)) order.push_back(c->name);
    by_name[c->name].push_back(c.get());
  }
  for (const auto& name : order) {
    const auto& list = by_name[name];
    header(out, name, list.front()->help, list.front()->type);
    for (const auto* c : list) {
      for (const auto& s : c->collect()) {
        out += fmt::format("{}{} {}\n", name, label_text(c->labels, s.labels), format_value(s.value));
      }
    }
  }
  return out;
}

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: recorded from threads that may outlive main
  return *r;
}

// ---- the server's own metrics ------------------------------------------------------------------

namespace {

struct Builtins {
  Family<Counter>& tool_calls = registry().counter(
      "wasimancer_tool_calls_total", "Tool calls by tool, plugin version and outcome (ok, plugin_error, trap, timeout, "
      "cancelled, oom, crash, host_error, denied_host, invalid_arguments)", {"tool", "plugin", "version", "outcome"});
  Family<Histogram>& tool_seconds = registry().histogram(
      "wasimancer_tool_call_duration_seconds", "Time from the start of a tool call's plugin run to its end",
      {"tool", "plugin", "version"});
  Family<Counter>& http = registry().counter("wasimancer_http_responses_total", "HTTP answers by route and status",
                                             {"route", "status"});
  Family<Counter>& direct_writes = registry().counter(
      "wasimancer_http_direct_writes_total",
      "HTTP answers that the worker thread which produced them took to send itself (the connection's thread sends what the socket did not take at once)");
  Counter& direct_writes_total = direct_writes.with({});  // listed at 0 from the start
  Family<Counter>& admin = registry().counter("wasimancer_admin_changes_total",
                                              "Admin API changes by object (plugin, resource, prompt, observe), action and result",
                                              {"object", "action", "result"});
  Family<Histogram>& native = registry().histogram(
      "wasimancer_native_build_seconds", "Native tier builds (wasm2c and the C compiler) by optimisation level and result",
      {"opt", "result"}, {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300});
  Family<Counter>& workers_started = registry().counter("wasimancer_sandbox_workers_started_total",
                                                        "Sandbox worker processes started");
  Family<Gauge>& workers_live = registry().gauge("wasimancer_sandbox_workers", "Sandbox worker processes running");
  Family<Counter>& crashes = registry().counter("wasimancer_sandbox_worker_crashes_total",
                                                "Calls that ended because their sandbox worker crashed, broke the protocol or stopped answering",
                                                {"plugin"});
  Family<Counter>& quarantines = registry().counter("wasimancer_plugin_quarantines_total",
                                                    "Plugin versions quarantined after repeated worker crashes", {"plugin"});
  Family<Counter>& mcp_requests = registry().counter(
      "wasimancer_mcp_requests_total",
      "MCP requests by transport (streamable, legacy, stdio), protocol revision and mode (session, or stateless: 2026-07-28 and sessionless requests)",
      {"transport", "protocol", "mode"});
  Family<Gauge>& mcp_in_flight = registry().gauge("wasimancer_mcp_requests_in_flight",
                                                  "MCP requests being served (subscriptions/listen streams included), by transport, protocol revision and mode",
                                                  {"transport", "protocol", "mode"});
  Family<Counter>& host_http = registry().counter("wasimancer_host_http_requests_total",
                                                  "HTTP requests made by plugins (http_request), by outcome (ok, denied, error)",
                                                  {"outcome"});
};

Builtins& builtins() {
  static Builtins* b = new Builtins();
  return *b;
}

// Registered at start-up, so /metrics lists every family (at zero) before anything happened.
[[maybe_unused]] const bool g_registered = (builtins(), true);

}  // namespace

std::string_view outcome_label(const Error* e) {
  if (!e) return "ok";
  switch (e->kind) {
    case ErrorKind::Trap: return "trap";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Cancelled: return "cancelled";
    case ErrorKind::OutOfMemory: return "oom";
    case ErrorKind::PluginError: return "plugin_error";
    case ErrorKind::Crash: return "crash";
    case ErrorKind::HostError:
      // host/http_client.cpp words every refusal of its policy "HTTP request to ... is not allowed".
      return e->message.find("is not allowed") != std::string::npos && e->message.find("HTTP request to") != std::string::npos
                 ? "denied_host"
                 : "host_error";
    case ErrorKind::InvalidArgument: return "invalid_arguments";
    default: return "host_error";
  }
}

void record_tool_call(std::string_view tool, std::string_view plugin, std::string_view version, std::string_view outcome,
                      double seconds) {
  if (!enabled()) return;
  auto& b = builtins();
  b.tool_calls.with({tool, plugin, version, outcome}).inc();
  if (outcome != "invalid_arguments") b.tool_seconds.with({tool, plugin, version}).observe(seconds);
}

std::string_view route_label(std::string_view path) {
  static const std::string_view known[] = {"/mcp", "/sse", "/messages", "/health", "/healthz", "/readyz", "/metrics",
                                           "/upload-plugin", "/update-plugin", "/remove-plugin", "/rollback-plugin",
                                           "/plugins", "/add-resource", "/update-resource", "/remove-resource",
                                           "/add-prompt", "/update-prompt", "/remove-prompt", "/ui", "/resources", "/prompts"};
  auto q = path.find('?');
  path = path.substr(0, q);
  auto slash = path.find('/', 1);
  std::string_view base = path.substr(0, slash);
  for (auto k : known) {
    if (base == k) return k;
  }
  if (path == "/") return "/";
  return "other";
}

GaugeHold record_mcp_request(std::string_view transport, std::string_view protocol, std::string_view mode) {
  if (!enabled()) return GaugeHold();
  auto& b = builtins();
  b.mcp_requests.with({transport, protocol, mode}).inc();
  return GaugeHold(&b.mcp_in_flight.with({transport, protocol, mode}));
}

void record_http_response(std::string_view route, unsigned status) {
  if (!enabled()) return;
  char buf[8];
  auto r = fmt::format_to_n(buf, sizeof buf - 1, "{}", status);
  builtins().http.with({route, std::string_view(buf, r.size)}).inc();
}

void record_admin_change(std::string_view object, std::string_view action, bool ok) {
  builtins().admin.with({object, action, ok ? "ok" : "error"}).inc();
}

void record_native_build(std::string_view opt_level, bool ok, double seconds) {
  builtins().native.with({opt_level, ok ? "ok" : "failed"}).observe(seconds);
}

void record_http_direct_write() {
  if (!enabled()) return;
  builtins().direct_writes_total.inc();
}
void record_worker_started() {
  builtins().workers_started.with({}).inc();
  builtins().workers_live.with({}).add(1);
}
void record_worker_ended() { builtins().workers_live.with({}).add(-1); }
void record_worker_crash(std::string_view plugin) { builtins().crashes.with({plugin}).inc(); }
void record_quarantine(std::string_view plugin) { builtins().quarantines.with({plugin}).inc(); }
void record_host_http(std::string_view outcome) { builtins().host_http.with({outcome}).inc(); }

}  // namespace wasimancer::metrics

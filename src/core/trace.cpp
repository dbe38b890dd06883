#include "core/trace.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <random>

#include "core/text.hpp"

namespace wasimancer::trace {

namespace {

// A per-thread xoshiro256** generator seeded from the OS: ids must be unique, not secret.
struct Rng {
  uint64_t s[4];
  Rng() {
    std::random_device rd;
    for (auto& x : s) x = (uint64_t(rd()) << 32) ^ rd();
    if (!(s[0] | s[1] | s[2] | s[3])) s[0] = 1;
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

Rng& rng() {
  thread_local Rng r;
  return r;
}

template <size_t N>
void fill_random(std::array<uint8_t, N>& out) {
  for (;;) {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t v = rng().next();
      for (size_t j = 0; j < 8 && i + j < N; ++j) out[i + j] = static_cast<uint8_t>(v >> (8 * j));
    }
    for (uint8_t b : out) {
      if (b) return;  // all-zero ids are invalid
    }
  }
}

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& a) {
  for (uint8_t b : a) {
    if (b) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not valid in traceparent
}

template <size_t N>
bool parse_hex(std::string_view text, std::array<uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

template <size_t N>
size_t to_hex(const std::array<uint8_t, N>& a, char* out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = digits[a[i] >> 4];
    out[2 * i + 1] = digits[a[i] & 15];
  }
  return 2 * N;
}

template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& a) {
  std::string out(2 * N, '0');
  to_hex(a, out.data());
  return out;
}

// OTLP JSON writes times as decimal strings.
void append_nanos(std::string& out, uint64_t nanos) {
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof digits, nanos);
  out += '"';
  out.append(digits, r.ptr);
  out += '"';
}

thread_local const TraceContext* t_current = nullptr;
thread_local const LogFields* t_fields = nullptr;

std::mutex g_exporter_mu;
std::shared_ptr<SpanExporter> g_exporter;  // under g_exporter_mu
std::atomic<uint64_t> g_exporter_generation{1};  // bumped (under g_exporter_mu) by set_exporter
std::atomic<bool> g_exporting{false};
// Traces started here are sampled when the first 8 bytes of their (random) id, read as a number,
// are below this threshold (head sampling by trace id ratio; 2^64-1: every trace).
std::atomic<uint64_t> g_sample_below{~uint64_t{0}};
std::atomic<double> g_sample_ratio{1.0};  // as set, for sample_ratio()

// The exporter, as this thread last saw it: a span's end reads one rarely written atomic, not a
// lock and a shared count every thread writes (with several threads ending spans at once, those
// were a cache line passed between cores twice per span). A thread's copy keeps the exporter it
// uses alive; set_exporter makes every thread take the new one at its next span.
SpanExporter* exporter() {
  struct Seen {
    uint64_t generation = 0;
    std::shared_ptr<SpanExporter> exporter;
  };
  thread_local Seen seen;
  const uint64_t g = g_exporter_generation.load(std::memory_order_acquire);
  if (seen.generation != g) {
    std::lock_guard lock(g_exporter_mu);
    seen.exporter = g_exporter;
    seen.generation = g_exporter_generation.load(std::memory_order_relaxed);
  }
  return seen.exporter.get();
}

}  // namespace

bool TraceContext::valid() const { return !all_zero(trace_id) && !all_zero(span_id); }

std::optional<TraceContext> TraceContext::parse(std::string_view t) {
  // version "-" trace-id "-" parent-id "-" flags; later versions may append "-..." fields.
  if (t.size() < 55 || t[2] != '-' || t[35] != '-' || t[52] != '-') return std::nullopt;
  std::array<uint8_t, 1> version{}, flags{};
  if (!parse_hex(t.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 && t.size() != 55) return std::nullopt;
  if (t.size() > 55 && t[55] != '-') return std::nullopt;
  TraceContext c;
  if (!parse_hex(t.substr(3, 32), c.trace_id) || !parse_hex(t.substr(36, 16), c.span_id) || !parse_hex(t.substr(53, 2), flags)) {
    return std::nullopt;
  }
  if (!c.valid()) return std::nullopt;
  c.flags = flags[0];
  return c;
}

TraceContext TraceContext::root() {
  TraceContext c;
  fill_random(c.trace_id);
  fill_random(c.span_id);
  uint64_t head = 0;
  for (int i = 0; i < 8; ++i) head = (head << 8) | c.trace_id[i];
  const uint64_t below = g_sample_below.load(std::memory_order_relaxed);
  c.flags = (below == ~uint64_t{0} || head < below) ? 1 : 0;
  return c;
}

void set_sample_ratio(double ratio) {
  ratio = std::clamp(ratio, 0.0, 1.0);
  g_sample_ratio.store(ratio, std::memory_order_relaxed);
  g_sample_below.store(ratio >= 1.0 ? ~uint64_t{0} : static_cast<uint64_t>(ratio * 18446744073709551615.0), std::memory_order_relaxed);
}

double sample_ratio() { return g_sample_ratio.load(std::memory_order_relaxed); }

TraceContext TraceContext::child() const {
  TraceContext c = *this;
  fill_random(c.span_id);
  return c;
}

std::string TraceContext::traceparent() const {
  std::array<uint8_t, 1> f{flags};
  return "00-" + to_hex(trace_id) + "-" + to_hex(span_id) + "-" + to_hex(f);
}

std::string TraceContext::trace_id_hex() const { return to_hex(trace_id); }
std::string TraceContext::span_id_hex() const { return to_hex(span_id); }
size_t TraceContext::trace_id_hex(char* out) const { return to_hex(trace_id, out); }
size_t TraceContext::span_id_hex(char* out) const { return to_hex(span_id, out); }

const TraceContext* current() { return t_current; }

Scope::Scope(const TraceContext* ctx) : previous_(t_current) { t_current = ctx; }
Scope::~Scope() { t_current = previous_; }

void set_exporter(std::shared_ptr<SpanExporter> e) {
  std::shared_ptr<SpanExporter> old;
  std::lock_guard lock(g_exporter_mu);
  g_exporting.store(e != nullptr, std::memory_order_relaxed);
  old = std::exchange(g_exporter, std::move(e));
  g_exporter_generation.fetch_add(1, std::memory_order_release);
}

bool exporting() { return g_exporting.load(std::memory_order_relaxed); }

uint64_t unix_nanos_now() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

Span::Span(std::string_view name, SpanKind kind, const TraceContext* parent, std::optional<std::array<uint8_t, 8>> parent_span_id) {
  if (parent && parent->valid()) {
    context_ = parent->child();
    if (!parent_span_id) parent_span_id = parent->span_id;
  } else {
    context_ = TraceContext::root();
    parent_span_id.reset();
  }
  begin(name, kind, parent_span_id);
}

Span::Span(std::string_view name, SpanKind kind, TraceContext self, std::optional<std::array<uint8_t, 8>> parent_span_id)
    : context_(self) {
  begin(name, kind, parent_span_id);
}

void Span::begin(std::string_view name, SpanKind kind, const std::optional<std::array<uint8_t, 8>>& parent_span_id) {
  recording_ = exporting() && (context_.flags & 1);
  if (!recording_) return;
  // OTLP/HTTP JSON (ids in lower-case hex, times as decimal strings); the rest comes in
  // attribute() and end().
  json_.reserve(640);  // a tool call's spans are 400-600 bytes: one allocation for the span
  char id[32];
  json_ += "{\"traceId\":\"";
  json_.append(id, to_hex(context_.trace_id, id));
  json_ += "\",\"spanId\":\"";
  json_.append(id, to_hex(context_.span_id, id));
  json_ += '"';
  if (parent_span_id) {
    json_ += ",\"parentSpanId\":\"";
    json_.append(id, to_hex(*parent_span_id, id));
    json_ += '"';
  }
  json_ += ",\"name\":";
  append_json_string(json_, name);
  json_ += ",\"kind\":";
  json_ += static_cast<char>('0' + static_cast<int>(kind));
  json_ += ",\"startTimeUnixNano\":";
  append_nanos(json_, unix_nanos_now());
  json_ += ",\"attributes\":[";
}

void append_otlp_attribute(std::string& out, std::string_view key, std::string_view value) {
  out += "{\"key\":";
  append_json_string(out, key);
  out += ",\"value\":{\"stringValue\":";
  append_json_string(out, value);
  out += "}}";
}

void Span::attribute(std::string_view key, std::string_view value) {
  if (!recording_ || ended_) return;
  if (any_attribute_) json_ += ',';
  any_attribute_ = true;
  append_otlp_attribute(json_, key, value);
}

void Span::fail(std::string_view message) {
  if (!recording_ || ended_) return;
  error_ = true;
  status_message_.assign(message);
}

void Span::end() {
  if (ended_) return;
  ended_ = true;
  if (!recording_) return;
  json_ += "],\"endTimeUnixNano\":";
  append_nanos(json_, unix_nanos_now());
  if (error_) {
    json_ += ",\"status\":{\"code\":2,\"message\":";
    append_json_string(json_, status_message_);
    json_ += "}}";
  } else {
    json_ += ",\"status\":{\"code\":1}}";
  }
  if (SpanExporter* e = exporter()) e->export_span(json_);
}

LogFields::LogFields(std::span<const LogField> fields) : fields_(fields), previous_(t_fields) { t_fields = this; }
LogFields::~LogFields() { t_fields = previous_; }
std::span<const LogField> LogFields::current() { return t_fields ? t_fields->fields_ : std::span<const LogField>(); }

}  // namespace wasimancer::trace

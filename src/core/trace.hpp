// core/trace.hpp: W3C trace context (traceparent), the current request's trace on this thread
// (every log line written meanwhile carries it), spans, and their optional export (OTLP/HTTP JSON,
// core/otlp.hpp).
//
//   TraceContext   a trace id, a span id and flags; parsed from or written as a `traceparent`
//                  header ("00-<32 hex>-<16 hex>-<2 hex>").
//   Scope          makes a context the calling thread's current one until it ends (nests).
//   Span           one timed operation of a trace. A Span records nothing unless an exporter is
//                  set (set_exporter) and its trace is sampled (set_sample_ratio), so tracing
//                  costs nothing when export is off; its context
//                  (for logs and outgoing headers) exists either way. A recording span writes
//                  itself in OTLP's JSON encoding as it goes, into one buffer: an exporter gets
//                  a finished span as one text to copy as is, with nothing left to encode.
//   LogFields      extra key/value fields for the next log lines of this thread (JSON logs show
//                  them as fields; text logs only the message).
//
// Ownership: contexts and spans are values. The exporter is shared (set_exporter).
// Thread safety: values are not shared; current()/Scope are per thread; set_exporter and
// exporting() are safe from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wasimancer::trace {

struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  uint8_t flags = 1;  // sampled

  bool valid() const;  // non-zero trace and span ids
  // A valid traceparent (version 00 or a later one read as 00), or nullopt.
  static std::optional<TraceContext> parse(std::string_view traceparent);
  static TraceContext root();   // a new trace
  TraceContext child() const;   // the same trace, a new span id
  std::string traceparent() const;
  std::string trace_id_hex() const;
  std::string span_id_hex() const;
  // The same, written to `out` (32 and 16 characters; no terminator); returns the length.
  size_t trace_id_hex(char* out) const;
  size_t span_id_hex(char* out) const;
};

// The calling thread's current trace, or null.
const TraceContext* current();

class Scope {
 public:
  explicit Scope(const TraceContext* ctx);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const TraceContext* previous_;
};

enum class SpanKind : int { Internal = 1, Server = 2, Client = 3 };

class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // One finished span: a JSON object of OTLP/HTTP's "spans" array (traceId, spanId,
  // parentSpanId when it has a parent, name, kind, startTimeUnixNano, endTimeUnixNano,
  // attributes with string values, status). Called on the thread that ended the span; must not
  // block for long. The text is valid only during the call.
  virtual void export_span(std::string_view span_json) = 0;
};

void set_exporter(std::shared_ptr<SpanExporter> exporter);
bool exporting();
// Head sampling (default 1: every trace). A trace started here (TraceContext::root) is sampled
// with this probability, decided from its random id; a trace that came with a traceparent keeps
// the caller's decision (its sampled flag). Spans of unsampled traces record nothing; their
// contexts (logs, outgoing traceparent headers, with flags 00) exist all the same.
void set_sample_ratio(double ratio);
double sample_ratio();  // as set (clamped to [0, 1])

// A span from now until end() (or destruction). `parent` is the context it is a child of
// (nullopt: a new trace). context() is valid at once.
class Span {
 public:
  Span(std::string_view name, SpanKind kind, const TraceContext* parent,
       std::optional<std::array<uint8_t, 8>> parent_span_id = std::nullopt);
  // A span for a context decided elsewhere (an MCP request's own context).
  Span(std::string_view name, SpanKind kind, TraceContext self, std::optional<std::array<uint8_t, 8>> parent_span_id);
  ~Span() { end(); }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  const TraceContext& context() const { return context_; }
  bool recording() const { return recording_; }
  // Both are copied (escaped into the span's JSON) at once. Nothing when not recording.
  void attribute(std::string_view key, std::string_view value);
  void fail(std::string_view message);  // status error with this message (the last one wins)
  void end();

 private:
  void begin(std::string_view name, SpanKind kind, const std::optional<std::array<uint8_t, 8>>& parent_span_id);

  TraceContext context_;
  bool recording_ = false;
  bool ended_ = false;
  bool error_ = false;
  bool any_attribute_ = false;
  std::string json_;            // the span so far, up to its attributes (recording only)
  std::string status_message_;  // when error_
};

uint64_t unix_nanos_now();

// Appends one OTLP attribute with a string value ({"key":…,"value":{"stringValue":…}}), escaped,
// to `out` (spans' attributes and the exporter's resource attributes).
void append_otlp_attribute(std::string& out, std::string_view key, std::string_view value);

// Extra fields of this thread's log lines until the scope ends (JSON logs only). The fields are
// viewed, not copied: what they name must outlive the scope.
using LogField = std::pair<std::string_view, std::string_view>;
class LogFields {
 public:
  explicit LogFields(std::span<const LogField> fields);
  ~LogFields();
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;
  static std::span<const LogField> current();  // empty when no scope is open

 private:
  std::span<const LogField> fields_;
  const LogFields* previous_;
};

}  // namespace wasimancer::trace

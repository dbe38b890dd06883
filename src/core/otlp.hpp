// core/otlp.hpp: exports spans (core/trace.hpp) to an OpenTelemetry collector with OTLP/HTTP in
// its JSON encoding (POST <endpoint>/v1/traces, Content-Type: application/json).
//
// Spans arrive encoded (trace::Span writes its own JSON). The calling thread appends its span to
// one of a few buffers chosen by thread (its own lock, next to never contended) and hands a
// buffer over whole when it holds `batch` spans: per span, one copy and no allocation or free on
// another thread (one string per span, freed by the exporter, cost the callers' allocator more
// than the encoding). At most max_queue spans wait (buffers, queue and the round being sent
// together; more are dropped and counted). One background thread sends the full buffers as they
// come, and every `interval` or on flush() also the partly filled ones, in posts of at most
// `batch` spans; a thread's spans keep their order.
// After a failed post the rest of that round is dropped, so a collector that is down or slow
// costs the server nothing but the dropped spans: requests have a short timeout and failures
// are logged at most once a minute.
//
// Ownership: owns its thread; the destructor sends what is queued and joins it (one request
// timeout when the collector is down; with a slow one, up to max_queue / batch posts).
// Thread safety: export_span, flush, sent and dropped are safe from any thread; encode is pure.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/trace.hpp"

namespace wasimancer::trace {

struct OtlpConfig {
  std::string endpoint;  // http(s)://host:port[/path]; "/v1/traces" is appended unless present
  std::string service_name = "wasimancer";
  std::string service_version;
  std::chrono::milliseconds interval{1000};
  size_t batch = 512;  // OpenTelemetry SDKs' default largest batch
  size_t max_queue = 10000;
  std::chrono::milliseconds timeout{5000};
};

class OtlpExporter final : public SpanExporter {
 public:
  explicit OtlpExporter(OtlpConfig config);
  ~OtlpExporter() override;

  void export_span(std::string_view span_json) override;
  // Blocks until every span exported before the call was sent (or failed). For tests and shutdown.
  void flush();

  const std::string& url() const { return url_; }
  uint64_t sent() const;
  uint64_t dropped() const;

  // The OTLP JSON document for `spans` (each as export_span gets it, or several of them joined
  // by commas), written to `out`.
  static void encode(std::span<const std::string> spans, const OtlpConfig& config, std::string& out);
  static std::string encode(std::span<const std::string> spans, const OtlpConfig& config);

 private:
  // Spans joined by commas, and how many.
  struct Batch {
    std::string text;
    size_t count = 0;
  };
  // A buffer the calling threads append to (thread i uses shard i % kShards).
  struct alignas(64) Shard {
    std::mutex mu;
    Batch open;  // under mu
  };
  static constexpr size_t kShards = 8;

  void run();
  // Sends `batches` in posts of at most config_.batch spans; returns how many spans were sent.
  // Leaves the batches' buffers in `batches` for reuse.
  uint64_t send(std::vector<Batch>& batches);
  bool post(const std::string& body);

  OtlpConfig config_;
  std::string url_;
  Shard shards_[kShards];
  std::atomic<size_t> pending_{0};          // spans in shards, queue_ and the round being sent
  std::atomic<uint64_t> dropped_full_{0};   // refused by export_span (max_queue reached)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Batch> queue_;  // full buffers handed over (under mu_)
  // Sent buffers, emptied, for export_span to fill again (under mu_): a fresh ~300 KB buffer per
  // batch was fresh pages to fault in, and pages to give back, for every 512 spans.
  std::vector<std::string> spare_;
  uint64_t sent_ = 0, dropped_ = 0;  // under mu_ (dropped_: in failed posts)
  uint64_t round_ = 0, done_round_ = 0;  // rounds started and finished (under mu_)
  bool stopping_ = false;
  bool flush_wanted_ = false;
  std::chrono::steady_clock::time_point last_error_log_{};
  // The exporter thread's curl handle (kept between batches: one connection to the collector).
  struct CurlHandle {
    void* p = nullptr;
    ~CurlHandle();
  };
  CurlHandle curl_handle_;
  std::string body_;  // the exporter thread's request body, reused
  std::thread thread_;
};

}  // namespace wasimancer::trace

#include "core/otlp.hpp"

#include <curl/curl.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/log.hpp"

namespace wasimancer::trace {

namespace {

size_t discard(char*, size_t s, size_t n, void*) { return s * n; }

}  // namespace

void OtlpExporter::encode(std::span<const std::string> spans, const OtlpConfig& config, std::string& out) {
  size_t size = 256;
  for (const auto& s : spans) size += s.size() + 1;
  out.clear();
  out.reserve(size);
  out += "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
  append_otlp_attribute(out, "service.name", config.service_name);
  if (!config.service_version.empty()) {
    out += ',';
    append_otlp_attribute(out, "service.version", config.service_version);
  }
  out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"wasimancer\"},\"spans\":[";
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i) out += ',';
    out += spans[i];
  }
  out += "]}]}]}";
}

std::string OtlpExporter::encode(std::span<const std::string> spans, const OtlpConfig& config) {
  std::string out;
  encode(spans, config, out);
  return out;
}

OtlpExporter::OtlpExporter(OtlpConfig config) : config_(std::move(config)) {
  url_ = config_.endpoint;
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  if (url_.size() < 10 || url_.compare(url_.size() - 10, 10, "/v1/traces") != 0) url_ += "/v1/traces";
  thread_ = std::thread([this] { run(); });
}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void OtlpExporter::export_span(std::string span_json) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() + in_flight_ >= config_.max_queue) {  // those of a round being sent count too
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(span_json));
    // Wake the exporter once, when a batch is full (it looks at the queue again after a send).
    if (queue_.size() != config_.batch) return;
  }
  cv_.notify_all();
}

void OtlpExporter::flush() {
  std::unique_lock lock(mu_);
  flush_wanted_ = true;
  cv_.notify_all();
  cv_.wait(lock, [this] { return (queue_.empty() && in_flight_ == 0) || stopping_; });
}

uint64_t OtlpExporter::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

uint64_t OtlpExporter::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void OtlpExporter::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, config_.interval, [this] { return stopping_ || flush_wanted_ || queue_.size() >= config_.batch; });
    // Send whatever is queued each time we wake (a full batch, flush(), the interval, the end).
    flush_wanted_ = false;
    if (queue_.empty()) {
      if (stopping_) return;
      cv_.notify_all();
      continue;
    }
    // Take everything queued at once (the emptied vector of the last round takes its place, so
    // the queue keeps its capacity), and send it in batches.
    std::vector<std::string> taken;
    taken.swap(spare_);
    taken.swap(queue_);
    in_flight_ = taken.size();
    lock.unlock();
    // After a failed post the rest of this round is dropped: a collector that is down costs one
    // timeout per round, not one per batch.
    uint64_t ok_count = 0;
    for (size_t i = 0; i < taken.size(); i += config_.batch) {
      const size_t n = std::min(config_.batch, taken.size() - i);
      encode(std::span<const std::string>(taken).subspan(i, n), config_, body_);
      if (!post(body_)) break;
      ok_count += n;
    }
    const size_t count = taken.size();
    taken.clear();
    lock.lock();
    spare_.swap(taken);
    in_flight_ = 0;
    sent_ += ok_count;
    dropped_ += count - ok_count;
    cv_.notify_all();
  }
}

OtlpExporter::CurlHandle::~CurlHandle() {
  if (p) curl_easy_cleanup(p);
}

bool OtlpExporter::post(const std::string& body) {
  // One handle for the exporter's thread (the only caller), so its connection to the collector
  // stays open between batches instead of a new TCP (and TLS) connection per batch.
  if (!curl_handle_.p) curl_handle_.p = curl_easy_init();
  CURL* c = curl_handle_.p;
  if (!c) return false;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    curl_easy_cleanup(c);  // start afresh after a failure
    curl_handle_.p = nullptr;
  }
  bool ok = rc == CURLE_OK && status >= 200 && status < 300;
  if (!ok) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_error_log_ > std::chrono::minutes(1)) {
      last_error_log_ = now;
      log().warn("OTLP export to {} failed: {}", url_,
                 rc != CURLE_OK ? std::string(curl_easy_strerror(rc)) : fmt::format("HTTP status {}", status));
    }
  }
  return ok;
}

}  // namespace wasimancer::trace

#include "core/otlp.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/thread_index.hpp"
#include "core/thread_name.hpp"

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
  thread_ = named_thread("wm-otlp", [this] { run(); });
}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void OtlpExporter::export_span(std::string_view span_json) {
  if (pending_.fetch_add(1, std::memory_order_relaxed) >= config_.max_queue) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    dropped_full_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Each thread keeps to one shard, so that its spans stay in order and the shard's lock is
  // (nearly) its own.
  Shard& shard = shards_[thread_index() % kShards];
  {
    std::lock_guard lock(shard.mu);
    Batch& b = shard.open;
    if (b.count == 0) {
      if (b.text.capacity() == 0) {
        std::lock_guard spare_lock(mu_);
        if (!spare_.empty()) {
          b.text = std::move(spare_.back());
          spare_.pop_back();
        }
      }
      b.text.reserve(std::min<size_t>(config_.batch * (span_json.size() + 1), size_t{1} << 20));
    } else {
      b.text += ',';
    }
    b.text.append(span_json);
    if (++b.count < config_.batch) return;
    // Queued under the shard's lock, so that a thread sharing this shard cannot queue a later
    // buffer first, and a round that takes every shard (holding all their locks) sees each
    // shard's full buffers before its open one.
    std::lock_guard queue_lock(mu_);
    queue_.push_back(std::exchange(b, Batch{}));
  }
  cv_.notify_all();
}

void OtlpExporter::flush() {
  std::unique_lock lock(mu_);
  // The next round to start takes every shard: once it is done, so is every span exported so far.
  const uint64_t want = round_ + 1;
  flush_wanted_ = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return done_round_ >= want || (stopping_ && done_round_ == round_); });
}

uint64_t OtlpExporter::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

uint64_t OtlpExporter::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_ + dropped_full_.load(std::memory_order_relaxed);
}

uint64_t OtlpExporter::send(std::vector<Batch>& batches) {
  // Posts of at most config_.batch spans: a full buffer alone, partly filled ones joined. After a
  // failed post the rest of the round is dropped: a collector that is down costs one timeout per
  // round, not one per batch.
  uint64_t ok_count = 0;
  std::vector<std::string> parts;
  for (size_t i = 0; i < batches.size();) {
    size_t n = 0;
    const size_t first = i;
    parts.clear();
    while (i < batches.size() && (parts.empty() || n + batches[i].count <= config_.batch)) {
      n += batches[i].count;
      parts.push_back(std::move(batches[i].text));
      ++i;
    }
    encode(parts, config_, body_);
    for (size_t k = 0; k < parts.size(); ++k) batches[first + k].text = std::move(parts[k]);  // back, for reuse
    if (!post(body_)) break;
    ok_count += n;
  }
  return ok_count;
}

void OtlpExporter::run() {
  auto next_sweep = std::chrono::steady_clock::now() + config_.interval;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_until(lock, next_sweep, [this] { return stopping_ || flush_wanted_ || !queue_.empty(); });
    // A full buffer alone sends what is queued; every interval (even under steady traffic),
    // flush() and the end take the partly filled shards too.
    const auto now = std::chrono::steady_clock::now();
    const bool all = now >= next_sweep || stopping_ || flush_wanted_;
    if (all) next_sweep = now + config_.interval;
    const bool last = stopping_;
    flush_wanted_ = false;
    const uint64_t round = ++round_;
    std::vector<Batch> taken;
    if (!all) {
      taken.swap(queue_);
      lock.unlock();
    } else {
      // Every shard's lock, then the queue's (the order export_span takes them): no buffer is
      // between a shard and the queue, so each thread's spans keep their order.
      lock.unlock();
      std::vector<std::unique_lock<std::mutex>> shard_locks;
      for (Shard& shard : shards_) shard_locks.emplace_back(shard.mu);
      lock.lock();
      taken.swap(queue_);
      lock.unlock();
      for (Shard& shard : shards_) {
        if (shard.open.count == 0) continue;
        taken.push_back(std::move(shard.open));
        shard.open = Batch{};
      }
    }
    size_t count = 0;
    for (const Batch& b : taken) count += b.count;
    const uint64_t ok_count = count ? send(taken) : 0;
    pending_.fetch_sub(count, std::memory_order_relaxed);
    lock.lock();
    // Keep a few emptied buffers for export_span (one per shard is what steady traffic needs).
    for (Batch& b : taken) {
      if (spare_.size() >= kShards || b.text.capacity() == 0 || b.text.capacity() > (size_t{2} << 20)) continue;
      b.text.clear();
      spare_.push_back(std::move(b.text));
    }
    taken.clear();
    sent_ += ok_count;
    dropped_ += count - ok_count;
    done_round_ = round;
    cv_.notify_all();
    if (last) return;
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

#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/sink.h>

#include "core/text.hpp"
#include "core/thread_index.hpp"
#include "core/thread_name.hpp"
#include "core/trace.hpp"

namespace wasimancer {

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::Trace: return "trace";
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
    case LogLevel::Off: return "off";
  }
  return "off";
}

std::optional<LogLevel> parse_log_level(std::string_view t) {
  if (t == "trace") return LogLevel::Trace;
  if (t == "debug") return LogLevel::Debug;
  if (t == "info") return LogLevel::Info;
  if (t == "warn" || t == "warning") return LogLevel::Warn;
  if (t == "error") return LogLevel::Error;
  if (t == "off" || t == "none") return LogLevel::Off;
  return std::nullopt;
}

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::Trace: return spdlog::level::trace;
    case LogLevel::Debug: return spdlog::level::debug;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Warn: return spdlog::level::warn;
    case LogLevel::Error: return spdlog::level::err;
    case LogLevel::Off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::optional<LogFormat> parse_log_format(std::string_view t) {
  if (t == "text") return LogFormat::Text;
  if (t == "json") return LogFormat::Json;
  return std::nullopt;
}

namespace {

void append(spdlog::memory_buf_t& dest, std::string_view s) { dest.append(s.data(), s.data() + s.size()); }

// %* in the text pattern: "[trace=<id>] " when the thread has a current trace.
class TraceFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const trace::TraceContext* t = trace::current();
    if (!t) return;
    char hex[33];
    append(dest, "[trace=");
    append(dest, std::string_view(hex, t->trace_id_hex(hex)));
    append(dest, "] ");
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TraceFlag>(); }
};

// "2026-12-04T22:30:12" for a second, kept per thread (lines of one second share it).
std::string_view utc_second(std::chrono::system_clock::time_point t) {
  thread_local time_t cached = -1;
  thread_local char text[32];
  thread_local size_t size = 0;
  const time_t s = std::chrono::system_clock::to_time_t(t);
  if (s != cached) {
    std::tm tm{};
    gmtime_r(&s, &tm);
    size = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    cached = s;
  }
  return {text, size};
}

// One JSON object per line. Stateless: safe to call from several threads at once.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    thread_local std::string out;  // reused: a line costs no allocation once the thread has logged
    out.assign("{\"time\":\"");
    out += utc_second(msg.time);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    const char frac[] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10), static_cast<char>('0' + ms % 10)};
    out.append(frac, sizeof frac);
    out += "Z\",\"level\":\"";
    auto lv = spdlog::level::to_string_view(msg.level);
    out.append(lv.data(), lv.size());
    out += "\",\"msg\":";
    append_json_string(out, std::string_view(msg.payload.data(), msg.payload.size()));
    if (const trace::TraceContext* tc = trace::current()) {
      char hex[33];
      out += ",\"trace_id\":\"";
      out.append(hex, tc->trace_id_hex(hex));
      out += "\",\"span_id\":\"";
      out.append(hex, tc->span_id_hex(hex));
      out += '"';
    }
    for (const auto& [k, v] : trace::LogFields::current()) {
      out += ',';
      append_json_string(out, k);
      out += ':';
      // Whole numbers are written as numbers, everything else as strings.
      bool number = !v.empty() && v.size() < 16 && v.find_first_not_of("0123456789") == std::string_view::npos;
      if (number) out += v;
      else append_json_string(out, v);
    }
    out += "}\n";
    append(dest, out);
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// The process's stderr, written in batches. Lines below warn are formatted on the logging thread
// (no lock held), appended to the buffer of the thread's shard (one of kShards, each its own lock
// and cache line) with a sequence number, and written by a flusher thread within kBatchWindow,
// several lines per write(2), merged back into sequence order (a write per line, under spdlog's
// sink lock, cost the JSON info line per tool call 7-28% of the tool-call throughput; one shared
// buffer's lock tripled a line's cost with two threads logging at once; issue 13). The sequence
// number is taken before the line is appended: a line logged after another returned is written
// after it. A warn or error line writes everything pending and itself at once, so what matters is
// never late and order is kept. flush() and the sink's end (the logger's, at exit) write what is
// pending.
// Thread safety: every member is safe from any thread.
class StderrSink final : public spdlog::sinks::sink {
 public:
  static constexpr auto kBatchWindow = std::chrono::milliseconds(5);
  static constexpr size_t kWriteAt = 64 * 1024;  // a buffer this full is written at once

  StderrSink() : color_(isatty(STDERR_FILENO) == 1), flusher_(named_thread("wm-log", [this] { run(); })) {}
  ~StderrSink() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    flusher_.join();
    write_pending();
  }

  void log(const spdlog::details::log_msg& msg) override {
    thread_local spdlog::memory_buf_t line;
    line.clear();
    format(msg, line);
    bool write_now = msg.level >= spdlog::level::warn;
    Shard& shard = my_shard();
    const uint64_t seq = seq_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(shard.mu);
      shard.text.append(line.data(), line.data() + line.size());
      shard.marks.push_back({seq, shard.text.size()});
      if (shard.text.size() >= kWriteAt) write_now = true;
    }
    appended_.fetch_add(1, std::memory_order_seq_cst);
    if (write_now) {
      write_pending();
    } else if (idle_.load(std::memory_order_seq_cst)) {
      // The flusher sleeps until a line comes: wake it (once per batch; while it gathers a
      // batch it is not idle).
      {
        std::lock_guard lock(mu_);
        idle_.store(false, std::memory_order_seq_cst);
      }
      cv_.notify_one();
    }
  }
  void flush() override { write_pending(); }
  void set_pattern(const std::string& pattern) override { set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern)); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
    std::lock_guard lock(formatter_mu_);
    formatter_ = std::move(f);
    generation_.fetch_add(1, std::memory_order_release);
  }

 private:
  // Formats with this thread's copy of the formatter (spdlog's pattern formatter keeps state).
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& out) {
    struct Local {
      const StderrSink* sink = nullptr;
      uint64_t generation = 0;
      std::unique_ptr<spdlog::formatter> formatter;
    };
    thread_local Local local;
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    if (local.sink != this || local.generation != gen || !local.formatter) {
      std::lock_guard lock(formatter_mu_);
      local.formatter = formatter_ ? formatter_->clone() : std::make_unique<spdlog::pattern_formatter>();
      local.generation = generation_.load(std::memory_order_relaxed);
      local.sink = this;
    }
    local.formatter->format(msg, out);
    if (color_ && msg.color_range_end > msg.color_range_start && msg.color_range_end <= out.size()) {
      std::string_view code = color(msg.level);
      std::string colored;
      colored.reserve(out.size() + 16);
      colored.append(out.data(), msg.color_range_start);
      colored += code;
      colored.append(out.data() + msg.color_range_start, msg.color_range_end - msg.color_range_start);
      colored += "\033[m";
      colored.append(out.data() + msg.color_range_end, out.size() - msg.color_range_end);
      out.clear();
      append(out, colored);
    }
  }
  static std::string_view color(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::trace: return "\033[37m";
      case spdlog::level::debug: return "\033[36m";
      case spdlog::level::info: return "\033[32m";
      case spdlog::level::warn: return "\033[33m\033[1m";
      case spdlog::level::err: return "\033[31m\033[1m";
      case spdlog::level::critical: return "\033[1m\033[41m";
      default: return "";
    }
  }
  struct Mark {
    uint64_t seq;
    size_t end;  // the line's end in its shard's text
  };
  struct alignas(64) Shard {
    std::mutex mu;
    std::string text;          // lines, under mu
    std::vector<Mark> marks;   // one per line, under mu
  };
  static constexpr size_t kShards = 8;
  Shard& my_shard() { return shards_[thread_index() % kShards]; }

  // Takes every shard's lines and writes them in sequence order; writers are serialised so
  // lines keep their order.
  void write_pending() {
    std::lock_guard write_lock(write_mu_);
    size_t lines = 0;
    for (size_t i = 0; i < kShards; ++i) {
      taken_[i].text.clear();
      taken_[i].marks.clear();
      std::lock_guard lock(shards_[i].mu);
      std::swap(shards_[i].text, taken_[i].text);
      std::swap(shards_[i].marks, taken_[i].marks);
      lines += taken_[i].marks.size();
    }
    if (lines == 0) return;
    writing_.clear();
    // Merge by sequence number (a shard's lines are in order already).
    size_t next[kShards] = {}, start[kShards] = {};
    for (size_t n = 0; n < lines; ++n) {
      size_t best = kShards;
      for (size_t i = 0; i < kShards; ++i) {
        if (next[i] < taken_[i].marks.size() && (best == kShards || taken_[i].marks[next[i]].seq < taken_[best].marks[next[best]].seq)) {
          best = i;
        }
      }
      const Mark& m = taken_[best].marks[next[best]++];
      writing_.append(taken_[best].text, start[best], m.end - start[best]);
      start[best] = m.end;
    }
    taken_count_.fetch_add(lines, std::memory_order_seq_cst);
    const char* p = writing_.data();
    size_t left = writing_.size();
    while (left > 0) {
      ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stderr closed or full beyond repair: the lines are dropped
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (writing_.capacity() > (1u << 20)) writing_ = std::string();
  }
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      // Idle until a line comes. A logger bumps appended_ and then reads idle_; this sets idle_
      // and then reads appended_ (both sequentially consistent): one of them sees the other.
      idle_.store(true, std::memory_order_seq_cst);
      if (!stop_ && appended_.load(std::memory_order_seq_cst) == taken_count_.load(std::memory_order_seq_cst)) {
        cv_.wait(lock, [&] { return stop_ || !idle_.load(std::memory_order_relaxed); });
      }
      idle_.store(false, std::memory_order_seq_cst);
      if (stop_) return;
      // Let the lines of the next few milliseconds join this write.
      cv_.wait_for(lock, kBatchWindow, [&] { return stop_; });
      lock.unlock();
      write_pending();
      lock.lock();
    }
  }

  const bool color_;
  std::mutex formatter_mu_;
  std::unique_ptr<spdlog::formatter> formatter_;
  std::atomic<uint64_t> generation_{1};
  Shard shards_[kShards];
  std::atomic<uint64_t> seq_{0};
  std::atomic<uint64_t> appended_{0};     // lines appended to shards
  std::atomic<uint64_t> taken_count_{0};  // lines taken by write_pending
  std::atomic<bool> idle_{false};         // the flusher waits for a line (set under mu_ to wake it)
  std::mutex mu_;  // stop_, and the flusher's sleep
  std::condition_variable cv_;
  bool stop_ = false;
  std::mutex write_mu_;  // taken_, writing_, and the order of writes
  struct Taken {
    std::string text;
    std::vector<Mark> marks;
  };
  Taken taken_[kShards];
  std::string writing_;
  std::thread flusher_;  // last: started once the members above exist
};

}  // namespace

namespace {
std::atomic<LogFormat> g_format{LogFormat::Text};
}  // namespace

LogLevel log_level() {
  switch (log().level()) {
    case spdlog::level::trace: return LogLevel::Trace;
    case spdlog::level::debug: return LogLevel::Debug;
    case spdlog::level::info: return LogLevel::Info;
    case spdlog::level::warn: return LogLevel::Warn;
    case spdlog::level::err:
    case spdlog::level::critical: return LogLevel::Error;
    default: return LogLevel::Off;
  }
}

void set_log_level(LogLevel level) { log().set_level(to_spdlog(level)); }

LogFormat log_format() { return g_format.load(std::memory_order_relaxed); }

void init_logging(LogLevel level, LogFormat format) {
  g_format.store(format, std::memory_order_relaxed);
  auto logger = spdlog::get("wasimancer");
  if (!logger) {
    logger = std::make_shared<spdlog::logger>("wasimancer", std::make_shared<StderrSink>());
    spdlog::register_logger(logger);
  }
  if (format == LogFormat::Json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<TraceFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %*%v");
    logger->set_formatter(std::move(f));
  }
  logger->set_level(to_spdlog(level));
  spdlog::set_default_logger(logger);
}

}  // namespace wasimancer

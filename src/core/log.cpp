#include "core/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/text.hpp"
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

// %* in the text pattern: "[trace=<id>] " when the thread has a current trace.
class TraceFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const trace::TraceContext* t = trace::current();
    if (!t) return;
    std::string s = "[trace=" + t->trace_id_hex() + "] ";
    dest.append(s.data(), s.data() + s.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TraceFlag>(); }
};

// One JSON object per line.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string out = "{\"time\":\"";
    auto t = std::chrono::system_clock::to_time_t(msg.time);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    out.append(buf, n);
    out += fmt::format(".{:03d}Z\",\"level\":\"", static_cast<int>(ms));
    auto lv = spdlog::level::to_string_view(msg.level);
    out.append(lv.data(), lv.size());
    out += "\",\"msg\":";
    append_json_string(out, std::string_view(msg.payload.data(), msg.payload.size()));
    if (const trace::TraceContext* tc = trace::current()) {
      out += ",\"trace_id\":\"" + tc->trace_id_hex() + "\",\"span_id\":\"" + tc->span_id_hex() + "\"";
    }
    if (const auto* fields = trace::LogFields::current()) {
      for (const auto& [k, v] : *fields) {
        out += ',';
        append_json_string(out, k);
        out += ':';
        // Whole numbers are written as numbers, everything else as strings.
        bool number = !v.empty() && v.size() < 16 && v.find_first_not_of("0123456789") == std::string::npos;
        if (number) out += v;
        else append_json_string(out, v);
      }
    }
    out += "}\n";
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void init_logging(LogLevel level, LogFormat format) {
  auto logger = spdlog::get("wasimancer");
  if (!logger) logger = spdlog::stderr_color_mt("wasimancer");
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

// tests/support/log_capture.hpp: what the process logger (core/log.hpp) writes during a test.
//
//   LogCapture logs;                        // from here on, every level is captured
//   ... code that logs ...
//   EXPECT_NE(logs.text().find("[wasi] stdout: hi"), std::string::npos);
//
// Ownership: adds a sink to the default spdlog logger and removes it (restoring the logger's
// level) when destroyed. Thread safety: lines logged from any thread are captured; create and
// destroy it on the test's thread while nothing else changes the logger's sinks.
#pragma once

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace wasimancer::test {

class LogCapture {
 public:
  LogCapture() : logger_(spdlog::default_logger()), level_(logger_->level()) {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink_->set_pattern("%l %v");  // "<level> <message>" per line
    logger_->sinks().push_back(sink_);
    logger_->set_level(spdlog::level::trace);
  }
  ~LogCapture() {
    auto& sinks = logger_->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    logger_->set_level(level_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Every line logged so far, "<level> <message>\n" each (levels as spdlog names them: trace,
  // debug, info, warning, error, critical).
  std::string text() {
    sink_->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> logger_;
  spdlog::level::level_enum level_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace wasimancer::test

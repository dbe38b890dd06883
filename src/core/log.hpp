// core/log.hpp: the process logger (spdlog), its text or JSON format, and the log levels shared by
// every layer.
//
// Ownership: the logger is a process-wide spdlog logger created by init_logging(); until then
// a default stderr logger is used. Thread safety: all functions are safe from any thread.
#pragma once

#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>

namespace wasimancer {

// Extism's plugin log levels, in its numbering (get_log_level returns these).
enum class LogLevel : int { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Off = 0x7fffffff };

std::string_view to_string(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view text);  // trace|debug|info|warn|error|off
spdlog::level::level_enum to_spdlog(LogLevel level);

enum class LogFormat { Text, Json };
std::optional<LogFormat> parse_log_format(std::string_view text);  // text|json

// Sends every log line to stderr (stdout must stay clean for stdio transports and `call`).
// Lines are formatted on the thread that logs them; lines below warn are written in batches (a
// background thread writes what the last 5 ms gathered, one write(2) for many lines), a warn or
// error line at once with everything before it. log().flush() writes what is pending; so does
// the logger's end at exit. Colours (the level) only when stderr is a terminal.
// Lines written while a trace is current on the thread (core/trace.hpp: trace::Scope) carry its
// trace and span ids: text lines as "[trace=<trace id>]" before the message, JSON lines (one
// object per line: time, level, msg, trace_id, span_id, and trace::LogFields) as fields.
void init_logging(LogLevel level, LogFormat format = LogFormat::Text);

// The process logger's level, read and changed at run time (GET/PUT /observe). A change applies
// to the next line logged on any thread. A plugin's own level (Extism get_log_level, and which of
// its records it sends) is fixed when it is loaded; its records still pass this level.
LogLevel log_level();
void set_log_level(LogLevel level);
LogFormat log_format();  // as init_logging set it

inline spdlog::logger& log() { return *spdlog::default_logger_raw(); }

}  // namespace wasimancer

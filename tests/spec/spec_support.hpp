// tests/spec/spec_support.hpp: what the spec-suite runner needs besides the engine: the
// "spectest" host functions, wast2json values (parsing, comparing with NaN classes, printing),
// trap classes, and the exceptions file (tests/spec/exceptions.txt).
//
// Ownership: plain values; SpectestHost owns its HostFuncs (keep it alive while instances that
// import them exist). Thread safety: no shared state.
#pragma once

#include <fnmatch.h>

#include <boost/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "engine/instance.hpp"

namespace wasimancer::test {

// The spectest module's functions (print, print_i32, ...): they print nothing, and count calls.
class SpectestHost {
 public:
  SpectestHost() {
    using engine::ValType;
    add("print", {});
    add("print_i32", {ValType::I32});
    add("print_i64", {ValType::I64});
    add("print_f32", {ValType::F32});
    add("print_f64", {ValType::F64});
    add("print_i32_f32", {ValType::I32, ValType::F32});
    add("print_f64_f64", {ValType::F64, ValType::F64});
  }
  SpectestHost(const SpectestHost&) = delete;
  SpectestHost& operator=(const SpectestHost&) = delete;

  const engine::HostFunc* find(const std::string& name) const {
    auto it = funcs_.find(name);
    return it == funcs_.end() ? nullptr : it->second.get();
  }
  int calls() const { return *calls_; }

 private:
  void add(const std::string& name, std::vector<engine::ValType> params) {
    auto f = std::make_unique<engine::HostFunc>();
    f->type.params = std::move(params);
    auto calls = calls_;
    f->fn = [calls](engine::Caller&, std::span<const engine::Slot>, std::span<engine::Slot>) -> engine::HostResult {
      ++*calls;
      return std::nullopt;
    };
    funcs_.emplace(name, std::move(f));
  }

  std::map<std::string, std::unique_ptr<engine::HostFunc>> funcs_;
  std::shared_ptr<int> calls_ = std::make_shared<int>(0);
};

namespace spec_detail {
inline std::string field(const boost::json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  if (!o) return {};
  auto it = o->find(key);
  if (it == o->end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}
inline bool has(const boost::json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  return o && o->contains(key);
}
}  // namespace spec_detail

// A wast2json argument as a slot (engine/types.hpp). externref N (N >= 0) is the host value N+1,
// so that 0 stays null. nullopt for what the engine does not take (v128).
inline std::optional<engine::Slot> parse_value(const boost::json::value& v) {
  using spec_detail::field;
  const std::string type = field(v, "type");
  const std::string value = field(v, "value");
  if (type == "i32" || type == "f32") return static_cast<uint32_t>(std::stoul(value));
  if (type == "i64" || type == "f64") return static_cast<uint64_t>(std::stoull(value));
  if (type == "externref") return value == "null" ? 0 : std::stoull(value) + 1;
  if (type == "funcref" && value == "null") return 0;
  return std::nullopt;
}

// Whether `got` is the expected value: bit-exact, except "nan:canonical" (the canonical NaN of
// either sign) and "nan:arithmetic" (any NaN with the top payload bit set); a reference without
// a value is any non-null one.
inline bool matches(const boost::json::value& expected, engine::Slot got) {
  using spec_detail::field;
  const std::string type = field(expected, "type");
  const std::string value = field(expected, "value");
  if (type == "i32") return got == static_cast<uint32_t>(std::stoul(value));
  if (type == "i64") return got == std::stoull(value);
  if (type == "f32") {
    if (got > 0xffffffffu) return false;
    if (value == "nan:canonical") return (got & 0x7fffffffu) == 0x7fc00000u;
    if (value == "nan:arithmetic") return (got & 0x7fc00000u) == 0x7fc00000u;
    return got == static_cast<uint32_t>(std::stoul(value));
  }
  if (type == "f64") {
    if (value == "nan:canonical") return (got & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
    if (value == "nan:arithmetic") return (got & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
    return got == std::stoull(value);
  }
  if (type == "externref" || type == "funcref") {
    if (!spec_detail::has(expected, "value")) return got != 0;
    if (value == "null") return got == 0;
    // wast2json writes (ref.func) as a number; the host sees only that a function is there.
    return type == "funcref" ? got != 0 : got == std::stoull(value) + 1;
  }
  return false;
}

// `got`, printed as the expected value's type.
inline std::string format_value(const boost::json::value& expected, engine::Slot got) {
  const std::string type = spec_detail::field(expected, "type");
  if (type == "f32" || type == "f64") return fmt::format("{} bits 0x{:x}", type, got);
  return fmt::format("{} {}", type, got);
}

// The class of a trap message, ours or the spec's: what the check compares (the wording differs
// between the spec, wabt and wasm2c; the class may not).
inline std::string trap_class(const std::string& text) {
  auto has = [&](const char* s) { return text.find(s) != std::string::npos; };
  if (has("out of bounds")) return "out of bounds";
  if (has("undefined") || has("uninitialized") || has("indirect call") || has("signature mismatch")) return "indirect call";
  if (has("divide by zero")) return "divide by zero";
  if (has("integer overflow")) return "integer overflow";
  if (has("invalid conversion")) return "invalid conversion";
  if (has("unreachable")) return "unreachable";
  if (has("exhausted")) return "call stack exhausted";
  return "other: " + text;
}

// The feature named by the engine's refusal ("... uses the WebAssembly feature \"simd\" ..."),
// if the message is one.
inline std::optional<std::string> refused_feature(const std::string& message) {
  const std::string key = "uses the WebAssembly feature \"";
  auto at = message.find(key);
  if (at == std::string::npos) return std::nullopt;
  auto start = at + key.size();
  auto end = message.find('"', start);
  if (end == std::string::npos) return std::nullopt;
  return message.substr(start, end - start);
}

// tests/spec/exceptions.txt: one entry a line, "PATTERN TIER CATEGORY REASON...":
//   PATTERN   a file name (glob allowed: "simd_*.wast"), or FILE.wast:LINE for one command
//   TIER      both, interpreter or native
//   CATEGORY  what the runner calls the skip (register, spectest-import, text-format,
//             refused:FEATURE) or, for a line entry, a name of your choosing
//   REASON    why; required
// '#' starts a comment.
class SpecExceptions {
 public:
  struct Entry {
    std::string pattern;  // without ":LINE"
    int line = 0;         // 0: the whole file
    std::string tier;
    std::string category;
    std::string reason;
  };

  static Result<SpecExceptions> load(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return Error(ErrorKind::NotFound, "cannot read " + path.string());
    SpecExceptions out;
    std::string text;
    int n = 0;
    while (std::getline(in, text)) {
      ++n;
      if (auto hash = text.find('#'); hash != std::string::npos) text.erase(hash);
      std::istringstream ss(text);
      Entry e;
      if (!(ss >> e.pattern)) continue;
      ss >> e.tier >> e.category;
      std::getline(ss, e.reason);
      while (!e.reason.empty() && e.reason.front() == ' ') e.reason.erase(0, 1);
      if (e.category.empty() || e.reason.empty() || (e.tier != "both" && e.tier != "interpreter" && e.tier != "native")) {
        return Error(ErrorKind::InvalidArgument, fmt::format("{}:{}: expected PATTERN TIER CATEGORY REASON", path.string(), n));
      }
      if (auto colon = e.pattern.rfind(':'); colon != std::string::npos) {
        e.line = std::stoi(e.pattern.substr(colon + 1));
        e.pattern.erase(colon);
      }
      out.entries_.push_back(std::move(e));
    }
    return out;
  }

  size_t entries() const { return entries_.size(); }

  // Whether `file` (without .wast) may skip assertions as `category` on `tier`.
  bool allows(const std::string& file, const std::string& category, const std::string& tier) const {
    for (const auto& e : entries_) {
      if (e.category == category && tier_matches(e, tier) && file_matches(e, file)) return true;
    }
    return false;
  }

  // The category of a line entry for `file`:`line`, if there is one.
  std::optional<std::string> line_category(const std::string& file, int line, const std::string& tier) const {
    for (const auto& e : entries_) {
      if (e.line == line && tier_matches(e, tier) && e.pattern == file + ".wast") return e.category;
    }
    return std::nullopt;
  }

  // The categories of the entries naming `file` exactly (no glob): each must still be needed.
  std::vector<std::string> file_entries(const std::string& file, const std::string& tier) const {
    std::vector<std::string> out;
    for (const auto& e : entries_) {
      if (e.pattern == file + ".wast" && tier_matches(e, tier)) out.push_back(e.category);
    }
    return out;
  }

 private:
  static bool tier_matches(const Entry& e, const std::string& tier) { return e.tier == "both" || e.tier == tier; }
  static bool file_matches(const Entry& e, const std::string& file) {
    return fnmatch(e.pattern.c_str(), (file + ".wast").c_str(), 0) == 0;
  }

  std::vector<Entry> entries_;
};

}  // namespace wasimancer::test

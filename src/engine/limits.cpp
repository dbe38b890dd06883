#include "engine/limits.hpp"

#include <optional>

#include <fmt/format.h>

#include "core/text.hpp"
#include "engine/wabt_util.hpp"

#include "wabt/binary-reader-nop.h"
#include "wabt/binary-reader.h"

namespace wasimancer::engine {

namespace {

// Streams the module once (wabt's binary reader is iterative) and stops at the first limit
// exceeded. Nothing here allocates by a count the module declares.
class LimitChecker : public wabt::BinaryReaderNop {
 public:
  LimitChecker(const ModuleLimits& l, const wabt::Features& f) : l_(l), features_(f) {}

  std::optional<std::string> problem;  // the first limit exceeded
  std::optional<std::string> malformed;  // what wabt 1.0.32 lets through but the spec calls malformed
  std::optional<std::string> disabled;   // an operator of a feature that is not enabled
  std::string wabt_error;              // the reader's own first error

  bool OnError(const wabt::Error& e) override {
    if (wabt_error.empty()) wabt_error = e.loc.offset ? fmt::format("at offset 0x{:x}: {}", e.loc.offset, e.message) : e.message;
    return true;
  }

  wabt::Result OnTypeCount(wabt::Index n) override { return over(n, l_.max_types, "function types"); }
  wabt::Result OnFuncType(wabt::Index, wabt::Index params, wabt::Type*, wabt::Index results, wabt::Type*) override {
    if (params > l_.max_params) return fail(fmt::format("a function type has {} parameters, more than the limit of {}", params, l_.max_params));
    if (results > l_.max_results) return fail(fmt::format("a function type has {} results, more than the limit of {}", results, l_.max_results));
    return wabt::Result::Ok;
  }
  wabt::Result OnImportCount(wabt::Index n) override { return over(n, l_.max_imports, "imports"); }
  wabt::Result OnImport(wabt::Index, wabt::ExternalKind, std::string_view module, std::string_view field) override {
    if (module.size() > l_.max_name_bytes || field.size() > l_.max_name_bytes) {
      return fail(fmt::format("an import name is longer than the limit of {} bytes", l_.max_name_bytes));
    }
    return wabt::Result::Ok;
  }
  wabt::Result OnImportTable(wabt::Index, std::string_view, std::string_view, wabt::Index, wabt::Type,
                             const wabt::Limits* lim) override {
    ++tables_;
    if (tables_ > l_.max_tables) return fail(fmt::format("the module has more than {} tables", l_.max_tables));
    return table_size(lim);
  }
  wabt::Result OnFunctionCount(wabt::Index n) override { return over(n, l_.max_functions, "functions"); }
  wabt::Result OnTableCount(wabt::Index n) override {
    if (uint64_t(n) + tables_ > l_.max_tables) return fail(fmt::format("the module has more than {} tables", l_.max_tables));
    return wabt::Result::Ok;
  }
  wabt::Result OnTable(wabt::Index, wabt::Type, const wabt::Limits* lim) override { return table_size(lim); }
  wabt::Result OnGlobalCount(wabt::Index n) override { return over(n, l_.max_globals, "globals"); }
  wabt::Result OnExportCount(wabt::Index n) override { return over(n, l_.max_exports, "exports"); }
  wabt::Result OnExport(wabt::Index, wabt::ExternalKind, wabt::Index, std::string_view name) override {
    if (name.size() > l_.max_name_bytes) return fail(fmt::format("an export name is longer than the limit of {} bytes", l_.max_name_bytes));
    return wabt::Result::Ok;
  }
  wabt::Result OnElemSegmentCount(wabt::Index n) override { return over(n, l_.max_elem_segments, "element segments"); }
  wabt::Result OnElemSegmentElemExprCount(wabt::Index, wabt::Index n) override {
    if (n > l_.max_elem_segment_elements) {
      return fail(fmt::format("an element segment has {} elements, more than the limit of {}", n, l_.max_elem_segment_elements));
    }
    return wabt::Result::Ok;
  }
  wabt::Result OnDataSegmentCount(wabt::Index n) override { return over(n, l_.max_data_segments, "data segments"); }

  wabt::Result BeginFunctionBody(wabt::Index index, wabt::Offset size) override {
    function_ = index;
    locals_ = 0;
    depth_ = 0;
    in_body_ = true;
    ended_ = false;
    if (size > l_.max_function_bytes) {
      return fail(fmt::format("function {} is {} bytes long, more than the limit of {} bytes", index, size, l_.max_function_bytes));
    }
    return wabt::Result::Ok;
  }
  wabt::Result OnLocalDecl(wabt::Index, wabt::Index count, wabt::Type) override {
    locals_ += count;
    if (locals_ > l_.max_locals) {
      return fail(fmt::format("function {} declares more than {} locals", function_, l_.max_locals));
    }
    return wabt::Result::Ok;
  }
  wabt::Result OnBlockExpr(wabt::Type) override { return enter(); }
  wabt::Result OnLoopExpr(wabt::Type) override { return enter(); }
  wabt::Result OnIfExpr(wabt::Type) override { return enter(); }
  wabt::Result OnTryExpr(wabt::Type) override { return enter(); }
  wabt::Result OnEndExpr() override {
    if (depth_ > 0) {
      --depth_;
    } else if (in_body_) {
      ended_ = true;  // the function's own end: nothing may follow it
    }
    return wabt::Result::Ok;
  }
  wabt::Result OnOpcode(wabt::Opcode op) override {
    // wabt checks only that a body's last byte is an end; operators after the end that closes
    // the function slip through its reader (and then break what reads the module after us).
    if (in_body_ && ended_) return fail_malformed(fmt::format("function {} has operators after its end", function_));
    // wabt 1.0.32 does not know the feature of every operator (v128.load8x8_s, v128.load32_zero
    // and other SIMD loads pass with SIMD disabled): every operator is checked here, SIMD (prefix
    // 0xfd) and threads (0xfe) by their prefix.
    const bool simd = op.HasPrefix() && op.GetPrefix() == 0xfd;
    const bool atomic = op.HasPrefix() && op.GetPrefix() == 0xfe;
    if (!op.IsEnabled(features_) || (simd && !features_.simd_enabled()) || (atomic && !features_.threads_enabled())) {
      if (!disabled) disabled = fmt::format("the operator {} is not enabled", op.GetName());
      return wabt::Result::Error;
    }
    return wabt::Result::Ok;
  }
  wabt::Result EndFunctionBody(wabt::Index) override {
    in_body_ = false;
    return wabt::Result::Ok;
  }
  wabt::Result BeginDataSegment(wabt::Index index, wabt::Index, uint8_t flags) override {
    // 0 active, 1 passive, 2 active with a memory index; wabt accepts the element segments'
    // flags (up to 7) here too, and reads the rest of the segment by them.
    if (flags > 2) return fail_malformed(fmt::format("data segment {} has the invalid flags {}", index, flags));
    return wabt::Result::Ok;
  }
  wabt::Result OnBrTableExpr(wabt::Index n, wabt::Index*, wabt::Index) override {
    if (n > l_.max_br_table_targets) {
      return fail(fmt::format("a br_table in function {} has {} targets, more than the limit of {}", function_, n,
                              l_.max_br_table_targets));
    }
    return wabt::Result::Ok;
  }

 private:
  wabt::Result fail(std::string why) {
    if (!problem) problem = std::move(why);
    return wabt::Result::Error;
  }
  wabt::Result fail_malformed(std::string why) {
    if (!malformed) malformed = std::move(why);
    return wabt::Result::Error;
  }
  wabt::Result over(uint64_t n, uint64_t limit, std::string_view what) {
    if (n > limit) return fail(fmt::format("the module declares {} {}, more than the limit of {}", n, what, limit));
    return wabt::Result::Ok;
  }
  wabt::Result table_size(const wabt::Limits* lim) {
    if (lim->initial > l_.max_table_elements) {
      return fail(fmt::format("a table has {} initial elements, more than the limit of {}", lim->initial, l_.max_table_elements));
    }
    return wabt::Result::Ok;
  }
  wabt::Result enter() {
    if (++depth_ > l_.max_nesting) {
      return fail(fmt::format("function {} nests blocks more than {} deep", function_, l_.max_nesting));
    }
    return wabt::Result::Ok;
  }

  const ModuleLimits& l_;
  wabt::Features features_;
  uint64_t tables_ = 0;
  wabt::Index function_ = 0;
  uint64_t locals_ = 0;
  uint32_t depth_ = 0;
  bool in_body_ = false;
  bool ended_ = false;
};

struct Read {
  bool ok;
  std::optional<std::string> limit;
  std::string error;
  std::optional<std::string> malformed;
};

Read read(std::span<const uint8_t> wasm, const wabt::Features& features, const ModuleLimits& limits) {
  LimitChecker checker(limits, features);
  wabt::ReadBinaryOptions opts(features, nullptr, false, /*stop_on_first_error=*/true, false);
  bool ok = wabt::Succeeded(wabt::ReadBinary(wasm.data(), wasm.size(), &checker, opts));
  std::string error = checker.wabt_error.empty() && checker.disabled ? *checker.disabled : checker.wabt_error;
  return {ok, checker.problem, error, checker.malformed};
}

// The features wabt knows beyond the accepted ones, each with a way to turn it on.
struct Extra {
  const char* name;
  void (wabt::Features::*enable)(bool);
};
constexpr Extra kExtras[] = {
    {"simd", &wabt::Features::set_simd_enabled},
    {"threads", &wabt::Features::set_threads_enabled},
    {"exceptions", &wabt::Features::set_exceptions_enabled},
    {"tail-call", &wabt::Features::set_tail_call_enabled},
    {"memory64", &wabt::Features::set_memory64_enabled},
    {"multi-memory", &wabt::Features::set_multi_memory_enabled},
    {"extended-const", &wabt::Features::set_extended_const_enabled},
    {"relaxed-simd", &wabt::Features::set_relaxed_simd_enabled},
    {"function-references", &wabt::Features::set_function_references_enabled},
    {"gc", &wabt::Features::set_gc_enabled},
};

// A LEB128 u32 as the spec reads it: at most 5 bytes, no bits beyond the 32nd.
bool read_u32(std::span<const uint8_t> in, size_t& pos, uint32_t& out) {
  uint64_t v = 0;
  for (int i = 0; i < 5; ++i) {
    if (pos >= in.size()) return false;
    uint8_t b = in[pos++];
    if (i == 4 && (b & 0xf0)) return false;  // a continuation bit or unused bits in the last byte
    v |= uint64_t(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      out = static_cast<uint32_t>(v);
      return true;
    }
  }
  return false;
}

// The frame of every section (its id and size) and the name of every custom section (a valid
// UTF-8 string inside the section). wabt 1.0.32 skips errors in custom sections, which the spec
// says make a module malformed (spec suite: custom.wast, binary-leb128.wast,
// utf8-custom-section-id.wast). The contents of a custom section stay free.
std::optional<std::string> check_sections(std::span<const uint8_t> wasm) {
  size_t pos = 8;  // after the magic and version, which wabt's reader checks
  while (pos < wasm.size()) {
    const size_t at = pos++;
    const uint8_t id = wasm[at];
    uint32_t size;
    if (!read_u32(wasm, pos, size)) return fmt::format("at offset 0x{:x}: malformed size of section {}", at, id);
    if (size > wasm.size() - pos) return fmt::format("at offset 0x{:x}: section {} ends past the end of the module", at, id);
    const size_t end = pos + size;
    if (id == 0) {
      auto body = wasm.first(end);
      uint32_t name_len;
      if (!read_u32(body, pos, name_len)) return fmt::format("at offset 0x{:x}: malformed custom section name", at);
      if (name_len > end - pos) return fmt::format("at offset 0x{:x}: custom section name ends past the section", at);
      if (!is_valid_utf8(std::string_view(reinterpret_cast<const char*>(wasm.data() + pos), name_len))) {
        return fmt::format("at offset 0x{:x}: custom section name is not valid UTF-8", at);
      }
    }
    pos = end;
  }
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& accepted_features() {
  static const std::vector<std::string> list = {"mutable-globals", "sign-extension", "saturating-float-to-int",
                                                "bulk-memory",     "multi-value",    "reference-types"};
  return list;
}

Result<void> check_module(std::span<const uint8_t> wasm, const ModuleLimits& limits) {
  if (wasm.size() > limits.max_module_bytes) {
    return Error(ErrorKind::InvalidModule,
                 fmt::format("the module is {} bytes, more than the limit of {} bytes", wasm.size(), limits.max_module_bytes));
  }
  Read r = read(wasm, wasm_features(), limits);
  if (r.ok) {
    if (auto bad = check_sections(wasm)) return Error(ErrorKind::InvalidModule, "malformed wasm module: " + *bad);
    return {};
  }
  if (r.limit) return Error(ErrorKind::InvalidModule, "the module exceeds a limit: " + *r.limit);
  if (r.malformed) return Error(ErrorKind::InvalidModule, "malformed wasm module: " + *r.malformed);
  // Did it fail only because it uses a feature we do not accept? Name it.
  for (const Extra& x : kExtras) {
    wabt::Features f = wasm_features();
    (f.*x.enable)(true);
    if (x.enable == &wabt::Features::set_gc_enabled || x.enable == &wabt::Features::set_function_references_enabled) {
      f.set_function_references_enabled(true);
    }
    if (read(wasm, f, limits).ok) {
      return Error(ErrorKind::InvalidModule,
                   fmt::format("the module uses the WebAssembly feature \"{}\", which this server does not accept "
                               "(accepted: {})",
                               x.name, fmt::join(accepted_features(), ", ")));
    }
  }
  return Error(ErrorKind::InvalidModule, "malformed wasm module: " + (r.error.empty() ? std::string("unknown error") : r.error));
}

}  // namespace wasimancer::engine

#include "engine/native/glue.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <optional>
#include <regex>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "engine/instrument.hpp"

namespace wasimancer::engine::native {

namespace {

struct Proto {
  std::string ret;
  std::string name;
  std::string first;                // the instance pointer's type
  std::vector<std::string> params;  // after the instance pointer
};

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// "u64 Z_fooZ_bar(struct Z_x_instance_t*, u64, u32);"
bool parse_proto(const std::string& line, Proto* p) {
  static const std::regex re(R"(^\s*(.+?)\s*\b(Z_\w+)\((.*)\);\s*$)");
  std::smatch m;
  if (!std::regex_match(line, m, re)) return false;
  p->ret = trim(m[1].str());
  p->name = m[2].str();
  std::string params = m[3].str();
  std::vector<std::string> parts;
  std::stringstream ss(params);
  std::string item;
  while (std::getline(ss, item, ',')) parts.push_back(trim(item));
  if (parts.empty()) return false;
  p->first = parts[0];
  p->params.assign(parts.begin() + 1, parts.end());
  for (auto& t : p->params) {
    // "Z_m_instance_t* instance" style names never appear after the first parameter, but be safe.
    auto sp = t.find(' ');
    if (sp != std::string::npos && t.find("struct") == std::string::npos) t = t.substr(0, sp);
  }
  return true;
}

// The C types wasm2c uses for wasm values, with the letter it gives each in multi-value struct
// names (struct wasm_multi_<letters>, fields <letter><index>).
struct CType {
  char letter;
  std::string_view name;
};
constexpr CType kValueTypes[] = {{'i', "u32"}, {'j', "u64"}, {'f', "f32"}, {'d', "f64"},
                                 {'e', "wasm_rt_externref_t"}, {'r', "wasm_rt_funcref_t"}};

bool value_type(const std::string& t) {
  return std::any_of(std::begin(kValueTypes), std::end(kValueTypes), [&](const CType& c) { return c.name == t; });
}

// The C type of a letter of kValueTypes ("" for another letter).
std::string type_of_letter(char letter) {
  for (const CType& c : kValueTypes) {
    if (c.letter == letter) return std::string(c.name);
  }
  return "";
}

// The letters of a multi-value result type ("struct wasm_multi_ijf" -> "ijf"), or nullopt.
std::optional<std::string> multi_letters(const std::string& t) {
  constexpr std::string_view prefix = "struct wasm_multi_";
  if (t.rfind(prefix, 0) != 0 || t.size() == prefix.size()) return std::nullopt;
  std::string letters = t.substr(prefix.size());
  for (char c : letters) {
    if (type_of_letter(c).empty()) return std::nullopt;
  }
  return letters;
}

// A wasm value to the host's 64-bit slot (engine/types.hpp): integers zero-extended, floats as
// their bit patterns (NaN payloads kept), an externref as the host's own value, a funcref as 0
// (null) or 1: the host never sees a code or instance address.
std::string to_slot(const std::string& t, const std::string& v) {
  if (t == "u32" || t == "u64") return fmt::format("(uint64_t){}", v);
  if (t == "f32") return fmt::format("wm_f32_bits({})", v);
  if (t == "f64") return fmt::format("wm_f64_bits({})", v);
  if (t == "wasm_rt_externref_t") return fmt::format("(uint64_t)(uintptr_t){}", v);
  return fmt::format("(uint64_t)(({}).func != NULL)", v);
}

// A slot to a wasm value. The host never makes a funcref: whatever the slot, it is null (the
// engine refuses non-null funcref arguments before any call).
std::string from_slot(const std::string& t, const std::string& v) {
  if (t == "u32") return fmt::format("(u32){}", v);
  if (t == "u64") return v;
  if (t == "f32") return fmt::format("wm_bits_f32({})", v);
  if (t == "f64") return fmt::format("wm_bits_f64({})", v);
  if (t == "wasm_rt_externref_t") return fmt::format("(wasm_rt_externref_t)(uintptr_t){}", v);
  return "wasm_rt_funcref_null_value";
}

// Statements storing a function's return value `v` (of C type `ret`) into r[0], r[1], ...
// Empty for void; nullopt if `ret` is not a wasm result type.
std::optional<std::string> store_results(const std::string& ret, const std::string& v) {
  if (ret == "void") return std::string();
  if (value_type(ret)) return fmt::format("  r[0] = {};\n", to_slot(ret, v));
  auto letters = multi_letters(ret);
  if (!letters) return std::nullopt;
  std::string out;
  for (size_t k = 0; k < letters->size(); ++k) {
    char c = (*letters)[k];
    out += fmt::format("  r[{}] = {};\n", k, to_slot(type_of_letter(c), fmt::format("{}.{}{}", v, c, k)));
  }
  return out;
}

// The fixed part of glue.c before the imports. Every function entry compares the stack pointer
// with a limit kept after the instance struct: stack exhaustion traps, and wm_interrupt (the
// watchdog, at the deadline) raises the limit so the next call traps too. No store on the call
// path, no globals.
constexpr std::string_view kHead = R"C(/* Generated by wasimancer: glue between wasm2c output and the host. */
#include "wm_rt.c"
#include "m.h"
typedef struct { volatile uintptr_t stack_limit; volatile uint32_t interrupted; } wm_tail;
#define WM_TAIL(inst) ((wm_tail*)((inst) + 1))
static void wm_entry_trap(wm_tail* t) { wm_trap(t->interrupted ? WM_TRAP_INTERRUPTED : WM_TRAP_EXHAUSTION); }
#define WM_FUNC_PROLOGUE \
  if (UNLIKELY((uintptr_t)__builtin_frame_address(0) < WM_TAIL(instance)->stack_limit)) wm_entry_trap(WM_TAIL(instance));
#include "m.c"

#define WM_API __attribute__((visibility("default")))
static inline uint64_t wm_f32_bits(f32 v) { uint32_t b; memcpy(&b, &v, 4); return b; }
static inline uint64_t wm_f64_bits(f64 v) { uint64_t b; memcpy(&b, &v, 8); return b; }
static inline f32 wm_bits_f32(uint64_t b) { uint32_t x = (uint32_t)b; f32 v; memcpy(&v, &x, 4); return v; }
static inline f64 wm_bits_f64(uint64_t b) { f64 v; memcpy(&v, &b, 8); return v; }

)C";

// The entry points that do not depend on the module's shape (see wm_native_abi.h), up to the
// body of wm_instantiate, which ends with the module's own Z_m_instantiate call.
constexpr std::string_view kEntryPoints = R"C(
WM_API uint32_t wm_abi_version(void) { return WM_NATIVE_ABI_VERSION; }
static pthread_once_t wm_once = PTHREAD_ONCE_INIT;
WM_API void wm_init_module(void) { pthread_once(&wm_once, Z_m_init_module); }
WM_API uint64_t wm_instance_size(void) { return sizeof(Z_m_instance_t) + sizeof(wm_tail); }
WM_API void wm_interrupt(void* inst) {
  wm_tail* t = WM_TAIL((Z_m_instance_t*)inst);
  t->interrupted = 1;
  t->stack_limit = (uintptr_t)-1;
}
WM_API void wm_arm(void* inst, wm_ctx* ctx) {
  wm_tail* t = WM_TAIL((Z_m_instance_t*)inst);
  t->interrupted = 0;
  t->stack_limit = ctx->stack_limit;
}
WM_API void wm_free(void* inst) { Z_m_free((Z_m_instance_t*)inst); }
WM_API void wm_stack_overflow(void) { wm_trap(WM_TRAP_EXHAUSTION); }
WM_API int wm_instantiate(void* inst, wm_ctx* ctx) {
  memset(inst, 0, sizeof(Z_m_instance_t) + sizeof(wm_tail));
  wm_arm(inst, ctx);
)C";

}  // namespace

namespace {

// "i12" -> 12, "e3" -> 3 (the letter, then decimal digits only).
std::optional<uint32_t> numbered(const std::string& name, char letter) {
  if (name.size() < 2 || name.size() > 10 || name[0] != letter) return std::nullopt;
  uint64_t n = 0;
  for (size_t i = 1; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  if (n > 0xfffffffeu) return std::nullopt;
  return static_cast<uint32_t>(n);
}

}  // namespace

Result<Glue> generate_glue(const std::string& header, size_t import_count) {
  std::istringstream in(header);
  std::string line;
  std::vector<uint32_t> import_indices;  // per import proto: the host's index or kTickImport
  std::vector<Proto> import_protos;
  std::vector<std::pair<uint32_t, Proto>> export_protos;  // (module export index, proto)
  std::string stack_fn;
  Proto instantiate;
  bool have_instantiate = false;
  static const std::regex import_re(R"(^/\* import: '([a-z0-9]*)' '([a-z0-9]*)' \*/$)");
  static const std::regex export_re(R"(^/\* export: '([a-z0-9]*)' \*/$)");
  auto unexpected = [](std::string_view what) {
    return Error(ErrorKind::Internal, fmt::format("native tier: unexpected {} in the wasm2c header", what));
  };
  while (std::getline(in, line)) {
    if (line.size() > 4096) continue;  // generated declarations are short; the regexes stay cheap
    std::smatch m;
    if (line.find("/* import:") != std::string::npos && line.rfind("/* import:", 0) != 0) {
      // Imported globals, memories and tables are members of the instance struct (indented); the
      // host never provides them (build_native refuses such modules first).
      return Error(ErrorKind::InvalidModule, "native tier: the module imports a global, memory or table");
    }
    if (line.rfind("/* import:", 0) == 0) {
      if (!std::regex_match(line, m, import_re) || m[1].str() != "h") return unexpected("import");
      std::string field = m[2].str();
      uint32_t index;
      if (field == "t") {
        index = kTickImport;
      } else if (auto k = numbered(field, 'i'); k && *k < import_count) {
        index = *k;
      } else {
        return unexpected("import");
      }
      std::string next;
      if (!std::getline(in, next)) break;
      Proto p;
      if (!parse_proto(next, &p)) {
        // Imported globals, memories and tables are declared differently; the host never
        // provides them, so the module could not have been linked anyway.
        return Error(ErrorKind::InvalidModule, fmt::format("native tier: unsupported import {}", index));
      }
      import_indices.push_back(index);
      import_protos.push_back(p);
    } else if (line.rfind("/* export:", 0) == 0) {
      if (!std::regex_match(line, m, export_re)) return unexpected("export");
      std::string name = m[1].str();
      std::string next;
      if (!std::getline(in, next)) break;
      Proto p;
      if (!parse_proto(next, &p)) continue;
      if (name == "s") {
        if (p.ret != "u32*") return unexpected("stack global");
        stack_fn = p.name;
      } else if (auto k = numbered(name, 'e')) {
        export_protos.emplace_back(*k, p);
      } else {
        return unexpected("export");
      }
    } else if (line.find("void Z_m_instantiate(") == 0) {
      have_instantiate = parse_proto(line, &instantiate);
    }
  }
  if (!have_instantiate) return Error(ErrorKind::Internal, "native tier: Z_m_instantiate not found in the wasm2c header");
  if (stack_fn.empty()) return Error(ErrorKind::Internal, "native tier: the stack global is not exported");

  std::string out(kHead);

  // Imports: forward to the host by index.
  for (size_t i = 0; i < import_protos.size(); ++i) {
    const Proto& p = import_protos[i];
    const uint32_t index = import_indices[i];
    auto letters = multi_letters(p.ret);
    if (p.ret != "void" && !value_type(p.ret) && !letters) {
      return Error(ErrorKind::InvalidModule, fmt::format("native tier: import {} returns {}", index, p.ret));
    }
    const size_t results = p.ret == "void" ? 0 : letters ? letters->size() : 1;
    // Defined with wasm2c's own declaration of the instance pointer.
    std::string first = p.first;
    auto star = first.rfind('*');
    if (star != std::string::npos) first = first.substr(0, star + 1);
    std::string sig = fmt::format("{} {}({} wm_c", p.ret, p.name, first);
    std::string body;
    for (size_t k = 0; k < p.params.size(); ++k) {
      if (!value_type(p.params[k])) {
        return Error(ErrorKind::InvalidModule, fmt::format("native tier: import {} takes {}", index, p.params[k]));
      }
      sig += fmt::format(", {} p{}", p.params[k], k);
      body += fmt::format("  a[{}] = {};\n", k, to_slot(p.params[k], fmt::format("p{}", k)));
    }
    sig += ")";
    out += sig + " {\n";
    out += fmt::format("  uint64_t a[{}];\n  uint64_t r[{}];\n", std::max<size_t>(1, p.params.size()), std::max<size_t>(1, results));
    out += fmt::format("  (void)a;\n  memset(r, 0, sizeof r);\n{}", body);
    // The call's context is the thread's current one (set by the entry point), not wm_c: wasm2c
    // 1.0.32 puts an imported function into a table (elem segment, ref.func) with the address of
    // the instance's import-instance field, not its value, so wm_c is wrong when the import is
    // called through call_indirect.
    out += "  (void)wm_c;\n  wm_ctx* ctx = wm_current;\n";
    out += fmt::format("  if (ctx->host_call(ctx, {}u, a, r)) wm_trap(WM_TRAP_HOST);\n", index);
    if (letters) {
      out += fmt::format("  {} v;\n", p.ret);
      for (size_t k = 0; k < letters->size(); ++k) {
        char c = (*letters)[k];
        out += fmt::format("  v.{}{} = {};\n", c, k, from_slot(type_of_letter(c), fmt::format("r[{}]", k)));
      }
      out += "  return v;\n";
    } else if (p.ret != "void") {
      out += "  return " + from_slot(p.ret, "r[0]") + ";\n";
    }
    out += "}\n";
  }

  out += kEntryPoints;
  std::string args = "(Z_m_instance_t*)inst";
  for (const auto& t : instantiate.params) args += fmt::format(", ({})(void*)ctx", t);
  out += fmt::format("  WM_ENTER(ctx, Z_m_instantiate({}));\n}}\n", args);

  // Exports: the memory, the globals (wm_global), and every function (wm_call, through one
  // wrapper per function that unpacks the argument slots and packs the results).
  Glue glue;
  std::string memory_fn;
  std::string cases;
  std::string global_cases;
  for (const auto& [k, p] : export_protos) {
    if (p.ret == "wasm_rt_memory_t*") {
      memory_fn = p.name;  // there is at most one memory (engine/limits.hpp)
      continue;
    }
    if (p.params.empty() && !p.ret.empty() && p.ret.back() == '*') {
      // A global: "u32* Z_mZ_e3(Z_m_instance_t* instance);" (tables: not readable here).
      std::string t = trim(p.ret.substr(0, p.ret.size() - 1));
      if (t.rfind("const ", 0) == 0) t = trim(t.substr(6));
      if (!value_type(t)) continue;
      global_cases += fmt::format("    case {}u: *out = {}; return 1;\n", k, to_slot(t, fmt::format("(*{}((Z_m_instance_t*)inst))", p.name)));
      continue;
    }
    auto store = store_results(p.ret, "v");
    if (!store) continue;
    bool ok = true;
    for (const auto& t : p.params) ok = ok && value_type(t);
    if (!ok) continue;
    std::string call = p.name + "((Z_m_instance_t*)inst";
    for (size_t j = 0; j < p.params.size(); ++j) call += ", " + from_slot(p.params[j], fmt::format("a[{}]", j));
    call += ")";
    out += fmt::format("static void wm_export_{}(void* inst, const uint64_t* a, uint64_t* r) {{\n  (void)a; (void)r;\n", k);
    if (p.ret == "void") {
      out += "  " + call + ";\n";
    } else {
      out += fmt::format("  {} v = {};\n{}", p.ret, call, *store);
    }
    out += "}\n";
    cases += fmt::format("    case {0}u: WM_ENTER(ctx, wm_export_{0}(inst, a, r));\n", k);
  }
  out += "WM_API int wm_memory(void* inst, uint8_t** data, uint64_t* size) {\n";
  if (!memory_fn.empty()) {
    out += fmt::format("  wasm_rt_memory_t* m = {}((Z_m_instance_t*)inst);\n", memory_fn);
    out += "  *data = m->data;\n  *size = m->size;\n  return 1;\n}\n";
  } else {
    out += "  (void)inst;\n  *data = 0;\n  *size = 0;\n  return 0;\n}\n";
  }
  out += "WM_API int wm_global(void* inst, uint32_t index, uint64_t* out) {\n  (void)inst; (void)out;\n  switch (index) {\n";
  out += global_cases;
  out += "    default: return 0;\n  }\n}\n";
  out += "WM_API int wm_call(void* inst, wm_ctx* ctx, uint32_t index, const uint64_t* a, uint64_t* r) {\n";
  out += "  wm_arm(inst, ctx);\n";
  out += fmt::format("  *{}((Z_m_instance_t*)inst) = 0;  /* the stack units: a trap leaves them raised */\n", stack_fn);
  out += "  switch (index) {\n";
  out += cases;
  out += "    default: return WM_TRAP_NO_EXPORT;\n  }\n}\n";
  glue.source = std::move(out);
  return glue;
}

}  // namespace wasimancer::engine::native

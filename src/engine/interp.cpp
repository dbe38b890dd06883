#include "engine/interp.hpp"

#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "engine/instrument.hpp"
#include "engine/interp_code.hpp"
#include "engine/tick.hpp"
#include "engine/wabt_util.hpp"

namespace wasimancer::engine {

namespace wi = wabt::interp;

namespace {

// Tick every this many function entries or loop iterations: about a millisecond on the
// interpreter, so deadlines are met closely while the clock is read rarely.
constexpr int32_t kInterpFuelRefill = 4096;

class InterpInstance final : public Instance, public Caller {
 public:
  InterpInstance(std::shared_ptr<const Module> module, void* user)
      : store_(wasm_features()), module_(std::move(module)), user_(user) {}

  ~InterpInstance() override {
    // Release every root before the Store goes.
    funcs_.clear();
    globals_.clear();
    externrefs_.clear();
    memory_.reset();
    stack_.reset();
    instance_.reset();
    host_funcs_.clear();
    module_ref_.reset();
  }

  std::optional<Trap> init(const ImportTable& imports, const InstanceLimits& limits, const CallControl& control) {
    const auto& code = module_->interp_code();
    if (code.error) return Trap{code.error->kind, code.error->message, std::nullopt};
    wi::ModuleDesc desc = code.desc;
    for (auto& mem : desc.memories) {
      auto& lim = mem.type.limits;
      const uint64_t cap = std::min<uint64_t>(limits.max_memory_pages, kMaxMemoryPages);
      if (lim.initial > cap) {
        return Trap{ErrorKind::OutOfMemory,
                    fmt::format("oom: the module needs {} pages of memory at start, more than its limit of {} pages",
                                lim.initial, cap),
                    std::nullopt};
      }
      if (!lim.has_max || lim.max > cap) {
        lim.max = cap;
        lim.has_max = true;
      }
    }
    // Tables: as wm_rt.c does on the native tier (a larger initial size fails, growth past the
    // cap returns -1).
    for (auto& table : desc.tables) {
      auto& lim = table.type.limits;
      if (lim.initial > limits.max_table_elements) {
        return Trap{ErrorKind::OutOfMemory,
                    fmt::format("oom: a table needs {} elements at start, more than the limit of {}", lim.initial,
                                limits.max_table_elements),
                    std::nullopt};
      }
      if (!lim.has_max || lim.max > limits.max_table_elements) {
        lim.max = limits.max_table_elements;
        lim.has_max = true;
      }
    }
    module_ref_ = wi::Module::New(store_, std::move(desc));

    wi::RefVec refs;
    size_t host_index = 0;
    const auto& import_types = module_ref_->import_types();
    for (size_t i = 0; i < import_types.size(); ++i) {
      const auto& it = import_types[i];
      auto* ft = wabt::dyn_cast<wi::FuncType>(it.type.get());
      if (!ft) {
        return Trap{ErrorKind::InvalidModule,
                    fmt::format("import \"{}\".\"{}\" is a {}; the host provides only functions", it.module, it.name,
                                to_string(from_wabt(it.type->kind))),
                    std::nullopt};
      }
      wi::HostFunc::Ptr hf;
      if (i == code.tick_import) {
        hf = wi::HostFunc::New(store_, *ft, [this](wi::Thread&, const wi::Values& params, wi::Values& results,
                                                   wi::Trap::Ptr* out_trap) -> wabt::Result {
          return tick(static_cast<int32_t>(params[0].Get<wi::u32>()), results, out_trap);
        });
      } else {
        if (host_index >= imports.size() || imports[host_index] == nullptr) {
          return Trap{ErrorKind::InvalidModule, fmt::format("unresolved import \"{}\".\"{}\"", it.module, it.name),
                      std::nullopt};
        }
        const HostFunc* host = imports[host_index++];
        FuncType want = from_wabt(*ft);
        if (!(host->type == want)) {
          return Trap{ErrorKind::InvalidModule,
                      fmt::format("import \"{}\".\"{}\" has type {}, but the host function has type {}", it.module,
                                  it.name, want.to_string(), host->type.to_string()),
                      std::nullopt};
        }
        hf = wi::HostFunc::New(store_, *ft,
                               [this, host, ft_copy = *ft](wi::Thread&, const wi::Values& params,
                                                           wi::Values& results, wi::Trap::Ptr* out_trap) {
                                 return call_host(*host, ft_copy, params, results, out_trap);
                               });
      }
      refs.push_back(hf.ref());
      host_funcs_.push_back(std::move(hf));
    }

    wi::Trap::Ptr trap;
    control_ = &control;
    pending_.reset();
    instance_ = wi::Instance::Instantiate(store_, module_ref_.ref(), refs, &trap);
    control_ = nullptr;
    if (!instance_) return take_trap(trap, "instantiation failed");

    const auto& exports = module_ref_->export_types();
    for (size_t i = 0; i < exports.size(); ++i) {
      wi::Ref ref = instance_->exports()[i];
      if (exports[i].type->kind == wabt::ExternalKind::Func) {
        funcs_.emplace(exports[i].name, store_.UnsafeGet<wi::Func>(ref));
      } else if (exports[i].type->kind == wabt::ExternalKind::Memory && exports[i].name == "memory") {
        memory_ = store_.UnsafeGet<wi::Memory>(ref);
      } else if (exports[i].type->kind == wabt::ExternalKind::Global && exports[i].name == kStackExport) {
        stack_ = store_.UnsafeGet<wi::Global>(ref);
      } else if (exports[i].type->kind == wabt::ExternalKind::Global) {
        globals_.emplace(exports[i].name, store_.UnsafeGet<wi::Global>(ref));
      }
    }
    return std::nullopt;
  }

  CallResult call(std::string_view name, std::span<const Slot> args, const CallControl& control) override {
    auto it = funcs_.find(std::string(name));
    if (it == funcs_.end()) {
      return Trap{ErrorKind::NotFound, fmt::format("function \"{}\" does not exist", name), std::nullopt};
    }
    wi::Func::Ptr& fn = it->second;
    const auto& ft = fn->type();
    if (args.size() != ft.params.size()) {
      return Trap{ErrorKind::InvalidArgument,
                  fmt::format("function \"{}\" takes {} arguments, {} given", name, ft.params.size(), args.size()),
                  std::nullopt};
    }
    for (size_t i = 0; i < args.size(); ++i) {
      if (ft.params[i] == wabt::Type::FuncRef && args[i] != 0) {
        return Trap{ErrorKind::InvalidArgument,
                    fmt::format("function \"{}\": argument {} is a funcref; the host can pass only null", name, i),
                    std::nullopt};
      }
    }
    wi::Values params;
    params.reserve(args.size());
    for (size_t i = 0; i < args.size(); ++i) params.push_back(from_slot(args[i], ft.params[i]));
    wi::Values results;
    wi::Trap::Ptr trap;
    control_ = &control;
    pending_.reset();
    if (stack_) stack_->UnsafeSet(wi::Value::Make(wi::u32{0}));  // a trap leaves the stack units raised
    wabt::Result r;
    {
      wi::Thread thread(store_);
      r = fn->Call(thread, params, results, &trap);
    }
    control_ = nullptr;
    if (wabt::Failed(r)) {
      Trap t = take_trap(trap, "call failed");
      trap.reset();
      if (++failures_since_collect_ >= 64) {
        store_.Collect();
        failures_since_collect_ = 0;
      }
      return t;
    }
    std::vector<Slot> out;
    out.reserve(results.size());
    for (size_t i = 0; i < results.size(); ++i) out.push_back(to_slot(results[i], ft.results[i]));
    return out;
  }

  std::optional<Slot> global(std::string_view name) override {
    auto it = globals_.find(std::string(name));
    if (it == globals_.end()) return std::nullopt;
    return to_slot(it->second->Get(), it->second->type().type);
  }

  std::span<uint8_t> memory() override {
    if (!memory_) return {};
    return {memory_->UnsafeData(), static_cast<size_t>(memory_->ByteSize())};
  }
  void* user_data() override { return user_; }
  const Module& module() const override { return *module_; }
  std::string_view tier_name() const override { return "interpreter"; }

 private:
  // Values to and from the host's slots (engine/types.hpp). A host externref becomes a Foreign
  // object of this store holding the host's value (one per value, kept for the instance's life),
  // so the guest holds a real reference and gets the same one back; funcrefs reach the host only
  // as null (0) or not (1), and come from it only as null.
  Slot to_slot(const wi::Value& v, wabt::Type t) {
    switch (static_cast<wabt::Type::Enum>(t)) {
      case wabt::Type::I32: return v.Get<wi::u32>();
      case wabt::Type::I64: return v.Get<wi::u64>();
      case wabt::Type::F32: {
        float f = v.Get<wi::f32>();
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        return bits;
      }
      case wabt::Type::F64: {
        double d = v.Get<wi::f64>();
        uint64_t bits;
        std::memcpy(&bits, &d, 8);
        return bits;
      }
      case wabt::Type::ExternRef: {
        wi::Ref ref = v.Get<wi::Ref>();
        if (ref == wi::Ref::Null) return 0;
        if (store_.IsValid(ref) && store_.Is<wi::Foreign>(ref)) {
          return reinterpret_cast<uintptr_t>(store_.UnsafeGet<wi::Foreign>(ref)->ptr());
        }
        return 0;  // not reached: an externref comes only from the host
      }
      default: return v.Get<wi::Ref>() == wi::Ref::Null ? 0 : 1;
    }
  }

  wi::Value from_slot(Slot s, wabt::Type t) {
    switch (static_cast<wabt::Type::Enum>(t)) {
      case wabt::Type::I32: return wi::Value::Make(static_cast<wi::u32>(s));
      case wabt::Type::I64: return wi::Value::Make(static_cast<wi::u64>(s));
      case wabt::Type::F32: {
        uint32_t bits = static_cast<uint32_t>(s);
        float f;
        std::memcpy(&f, &bits, 4);
        return wi::Value::Make(f);
      }
      case wabt::Type::F64: {
        double d;
        std::memcpy(&d, &s, 8);
        return wi::Value::Make(d);
      }
      case wabt::Type::ExternRef: {
        if (s == 0) return wi::Value::Make(wi::Ref::Null);
        auto it = externrefs_.find(s);
        if (it == externrefs_.end()) {
          it = externrefs_.emplace(s, wi::Foreign::New(store_, reinterpret_cast<void*>(static_cast<uintptr_t>(s)))).first;
        }
        return wi::Value::Make(it->second.ref());
      }
      default: return wi::Value::Make(wi::Ref::Null);
    }
  }

  Trap take_trap(const wi::Trap::Ptr& trap, std::string_view fallback) {
    if (pending_) {
      Trap t = std::move(*pending_);
      pending_.reset();
      return t;
    }
    std::string msg = trap ? trap->message() : std::string(fallback);
    if (msg == "unreachable executed") msg = "unreachable";  // the wording other runtimes use
    return Trap{ErrorKind::Trap, "wasm trap: " + msg, std::nullopt};
  }

  wabt::Result tick(int32_t reason, wi::Values& results, wi::Trap::Ptr* out_trap) {
    pending_ = tick_trap(reason, control_);
    if (!pending_) {
      results[0] = wi::Value::Make(static_cast<wi::u32>(kInterpFuelRefill));
      return wabt::Result::Ok;
    }
    *out_trap = wi::Trap::New(store_, pending_->message);
    return wabt::Result::Error;
  }

  wabt::Result call_host(const HostFunc& host, const wi::FuncType& ft, const wi::Values& params,
                         wi::Values& results, wi::Trap::Ptr* out_trap) {
    Slot args[16];
    Slot res[16];
    std::vector<Slot> big_args, big_res;
    Slot* a = args;
    Slot* r = res;
    if (params.size() > 16) { big_args.resize(params.size()); a = big_args.data(); }
    if (ft.results.size() > 16) { big_res.resize(ft.results.size()); r = big_res.data(); }
    for (size_t i = 0; i < params.size(); ++i) a[i] = to_slot(params[i], ft.params[i]);
    for (size_t i = 0; i < ft.results.size(); ++i) r[i] = 0;
    HostResult hr = host.fn(*this, std::span<const Slot>(a, params.size()), std::span<Slot>(r, ft.results.size()));
    if (hr) {
      pending_ = std::move(*hr);
      *out_trap = wi::Trap::New(store_, pending_->message);
      return wabt::Result::Error;
    }
    results.resize(ft.results.size());
    for (size_t i = 0; i < ft.results.size(); ++i) results[i] = from_slot(r[i], ft.results[i]);
    return wabt::Result::Ok;
  }

  wi::Store store_;  // declared first: destroyed last
  std::shared_ptr<const Module> module_;
  void* user_;
  wi::Module::Ptr module_ref_;
  wi::Instance::Ptr instance_;
  wi::Memory::Ptr memory_;
  wi::Global::Ptr stack_;  // the instrumentation's stack units (engine/instrument.hpp)
  std::vector<wi::HostFunc::Ptr> host_funcs_;
  std::unordered_map<std::string, wi::Func::Ptr> funcs_;
  std::unordered_map<std::string, wi::Global::Ptr> globals_;
  std::unordered_map<Slot, wi::Foreign::Ptr> externrefs_;  // the host's externref values (from_slot)
  const CallControl* control_ = nullptr;
  std::optional<Trap> pending_;
  int failures_since_collect_ = 0;
};

}  // namespace

std::variant<std::unique_ptr<Instance>, Trap> instantiate_interp(std::shared_ptr<const Module> module,
                                                                 const ImportTable& imports, void* user_data,
                                                                 const InstanceLimits& limits,
                                                                 const CallControl& control) {
  auto inst = std::make_unique<InterpInstance>(std::move(module), user_data);
  if (auto trap = inst->init(imports, limits, control)) return std::move(*trap);
  return std::unique_ptr<Instance>(std::move(inst));
}

}  // namespace wasimancer::engine

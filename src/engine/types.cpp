#include "engine/types.hpp"

#include "engine/interp_code.hpp"

namespace wasimancer::engine {

std::string_view to_string(ValType t) {
  switch (t) {
    case ValType::I32: return "i32";
    case ValType::I64: return "i64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
    case ValType::V128: return "v128";
    case ValType::FuncRef: return "funcref";
    case ValType::ExternRef: return "externref";
  }
  return "?";
}

std::string_view to_string(ExternKind k) {
  switch (k) {
    case ExternKind::Func: return "function";
    case ExternKind::Table: return "table";
    case ExternKind::Memory: return "memory";
    case ExternKind::Global: return "global";
    case ExternKind::Tag: return "tag";
  }
  return "?";
}

std::string FuncType::to_string() const {
  std::string s = "(";
  for (size_t i = 0; i < params.size(); ++i) {
    if (i) s += ",";
    s += engine::to_string(params[i]);
  }
  s += ")->(";
  for (size_t i = 0; i < results.size(); ++i) {
    if (i) s += ",";
    s += engine::to_string(results[i]);
  }
  return s + ")";
}

ValType from_wabt(wabt::Type t) {
  switch (static_cast<wabt::Type::Enum>(t)) {
    case wabt::Type::I32: return ValType::I32;
    case wabt::Type::I64: return ValType::I64;
    case wabt::Type::F32: return ValType::F32;
    case wabt::Type::F64: return ValType::F64;
    case wabt::Type::V128: return ValType::V128;
    case wabt::Type::FuncRef: return ValType::FuncRef;
    default: return ValType::ExternRef;
  }
}

ExternKind from_wabt(wabt::ExternalKind k) {
  switch (k) {
    case wabt::ExternalKind::Func: return ExternKind::Func;
    case wabt::ExternalKind::Table: return ExternKind::Table;
    case wabt::ExternalKind::Memory: return ExternKind::Memory;
    case wabt::ExternalKind::Global: return ExternKind::Global;
    case wabt::ExternalKind::Tag: return ExternKind::Tag;
  }
  return ExternKind::Func;
}

FuncType from_wabt(const wabt::interp::FuncType& ft) {
  FuncType out;
  for (auto t : ft.params) out.params.push_back(from_wabt(t));
  for (auto t : ft.results) out.results.push_back(from_wabt(t));
  return out;
}

}  // namespace wasimancer::engine

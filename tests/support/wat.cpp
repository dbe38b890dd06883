#include "wat.hpp"

#include <stdexcept>
#include <string>

#include "wabt/binary-writer.h"
#include "wabt/error-formatter.h"
#include "wabt/ir.h"
#include "wabt/resolve-names.h"
#include "wabt/stream.h"
#include "wabt/wast-lexer.h"
#include "wabt/wast-parser.h"

namespace wasimancer::test {

std::vector<uint8_t> wat_to_wasm(std::string_view wat) {
  wabt::Features features;
  features.enable_bulk_memory();
  features.enable_reference_types();
  features.enable_multi_value();
  wabt::Errors errors;
  auto lexer = wabt::WastLexer::CreateBufferLexer("test.wat", wat.data(), wat.size(), &errors);
  std::unique_ptr<wabt::Module> module;
  wabt::WastParseOptions opts(features);
  if (wabt::Failed(wabt::ParseWatModule(lexer.get(), &module, &errors, &opts)) ||
      wabt::Failed(wabt::ResolveNamesModule(module.get(), &errors))) {
    throw std::runtime_error("bad wat: " + wabt::FormatErrorsToString(errors, wabt::Location::Type::Text));
  }
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions wopts(features, true, false, false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, module.get(), wopts))) throw std::runtime_error("cannot write wasm");
  return stream.output_buffer().data;
}

}  // namespace wasimancer::test

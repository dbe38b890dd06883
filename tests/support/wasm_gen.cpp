// wasm_gen: writes hand-assembled modules the text format cannot express or a text parser would
// choke on, for the shell suites. Usage: wasm_gen nested DEPTH block|loop|if OUT
//                                        wasm_gen locals COUNT OUT
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "wasm_builder.hpp"

int main(int argc, char** argv) {
  using namespace wasimancer::test;
  std::vector<uint8_t> m;
  if (argc == 5 && std::strcmp(argv[1], "nested") == 0) {
    uint8_t op = std::strcmp(argv[3], "loop") == 0 ? 0x03 : std::strcmp(argv[3], "if") == 0 ? 0x04 : 0x02;
    m = nested_module(static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)), op);
  } else if (argc == 4 && std::strcmp(argv[1], "locals") == 0) {
    m = module_with_body({}, static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)));
  } else {
    std::fprintf(stderr, "usage: wasm_gen nested DEPTH block|loop|if OUT | wasm_gen locals COUNT OUT\n");
    return 2;
  }
  std::ofstream out(argv[argc - 1], std::ios::binary);
  out.write(reinterpret_cast<const char*>(m.data()), static_cast<std::streamsize>(m.size()));
  return out ? 0 : 1;
}

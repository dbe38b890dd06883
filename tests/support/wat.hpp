// tests/support/wat.hpp: compile WebAssembly text to a binary module in-process (wabt).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace wasimancer::test {

// Aborts the test (throws std::runtime_error) if the text does not parse.
std::vector<uint8_t> wat_to_wasm(std::string_view wat);

}  // namespace wasimancer::test

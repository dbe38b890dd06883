// tests/support/wat.hpp: compile WebAssembly text to a binary module in-process (wabt), with
// the bulk-memory, reference-types and multi-value features.
//
// Ownership: the bytes returned belong to the caller. Thread safety: no shared state; safe from
// any thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace wasimancer::test {

// Throws std::runtime_error with wabt's messages (which fails the test) if the text does not parse.
std::vector<uint8_t> wat_to_wasm(std::string_view wat);

}  // namespace wasimancer::test

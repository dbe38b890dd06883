// tests/support/wasm_builder.hpp: hand-assembled binary modules for what the text format cannot
// say or what a text parser would choke on (100,000 nested blocks), for the hostile-module tests.
//
// Ownership: plain byte vectors owned by the caller. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wasimancer::test {

inline void leb_u32(std::vector<uint8_t>& out, uint64_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(b);
  } while (v);
}

// Appends section `id` with `payload`.
inline void section(std::vector<uint8_t>& out, uint8_t id, const std::vector<uint8_t>& payload) {
  out.push_back(id);
  leb_u32(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
}

// A module exporting one function "f" of type () -> () with `body` (the instructions, without
// the final `end`) and `locals` i64 locals.
inline std::vector<uint8_t> module_with_body(const std::vector<uint8_t>& body, uint32_t locals = 0) {
  std::vector<uint8_t> m = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  section(m, 1, {0x01, 0x60, 0x00, 0x00});  // one type: () -> ()
  section(m, 3, {0x01, 0x00});              // one function of type 0
  section(m, 7, {0x01, 0x01, 'f', 0x00, 0x00});
  std::vector<uint8_t> fn;
  if (locals) {
    fn.push_back(0x01);
    leb_u32(fn, locals);
    fn.push_back(0x7e);  // i64
  } else {
    fn.push_back(0x00);
  }
  fn.insert(fn.end(), body.begin(), body.end());
  fn.push_back(0x0b);
  std::vector<uint8_t> code = {0x01};
  leb_u32(code, fn.size());
  code.insert(code.end(), fn.begin(), fn.end());
  section(m, 10, code);
  return m;
}

// `depth` nested blocks (0x02), loops (0x03) or ifs (0x04, each on i32.const 0).
inline std::vector<uint8_t> nested_module(uint32_t depth, uint8_t op) {
  std::vector<uint8_t> body;
  body.reserve(depth * 5);
  for (uint32_t i = 0; i < depth; ++i) {
    if (op == 0x04) body.insert(body.end(), {0x41, 0x00});
    body.insert(body.end(), {op, 0x40});
  }
  body.insert(body.end(), depth, 0x0b);
  return module_with_body(body);
}

}  // namespace wasimancer::test

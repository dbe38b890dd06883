// CATALOG.md §4.5: sea-monkeys/WASImancer plugins (TinyGo go-pdk and one Rust PDK), run through
// `wasimancer call`. No upstream assertions: values come from the cited source and the harness.
#include <gtest/gtest.h>

#include <set>

#include "catalog_cli.hpp"

namespace wasimancer::test::catalog {
namespace {

FIXTURE_TEST(WasimancerHello, SayHello) {  // plugins/hello/main.go L13
  EXPECT_SUCCESS(Cli("sea-monkeys-WASImancer/wasimancer-plugin-hello.wasm", "say_hello").input("Bob Morane").run(),
                 "\xF0\x9F\x8E\x89 Extism is \xF0\x9F\x92\x9C, \xF0\x9F\x8C\x8D, by Bob Morane");
}

FIXTURE_TEST(WasimancerWithConfig, WithConfig) {  // plugins/with-config/main.go L16
  auto r = Cli("sea-monkeys-WASImancer/wasimancer-plugin-with-config.wasm", "display_variables")
               .input("Bob Morane")
               .config("WASM_VERSION", "0.2.0")
               .config("WASM_MESSAGE", "hello world")
               .run();
  EXPECT_SUCCESS(r, "Argument: Bob Morane\nVersion:0.2.0\nMessage:hello world");
}

FIXTURE_TEST(WasimancerWithConfig, WithoutConfig) {
  EXPECT_SUCCESS(Cli("sea-monkeys-WASImancer/wasimancer-plugin-with-config.wasm", "display_variables").input("Bob Morane").run(),
                 "Argument: Bob Morane\nVersion:\nMessage:");
}

FIXTURE_TEST(WasimancerAddition, Add) {  // plugins/addition/src/lib.rs
  EXPECT_SUCCESS(Cli("sea-monkeys-WASImancer/wasimancer_plugin_addition.wasm", "add").input("{\"left\":30, \"right\":12}").run(),
                 "{\"value\":42}");
}

FIXTURE_TEST(WasimancerAddition, MissingFieldIsThePluginsError) {  // ✔: rc −1
  auto r = Cli("sea-monkeys-WASImancer/wasimancer_plugin_addition.wasm", "add").input("{\"a\":1}").run();
  EXPECT_CALL_ERROR(r, "plugin error");
  EXPECT_MESSAGE_EQ(r, "missing field `left` at line 1 column 7");
}

// ---- roll-dice (random output: CATALOG §5) -------------------------------------------------------

const char* const kRollDice[] = {"sea-monkeys-WASImancer/wasimancer-plugin-roll-dice.wasm",
                                 "sea-monkeys-WASImancer/wasimancer-plugin-roll-dice.examples.wasm"};

// Every line is a decimal integer in [lo, hi]; returns the distinct values.
std::set<int> check_rolls(const CliResult& r, size_t calls, int lo, int hi) {
  std::set<int> seen;
  auto lines = split_lines(r.out);
  EXPECT_EQ(lines.size(), calls) << r.describe();
  for (const auto& l : lines) {
    bool digits = !l.empty() && l.find_first_not_of("0123456789") == std::string::npos && l.size() < 6;
    EXPECT_TRUE(digits) << "not a decimal integer: [" << l << "]";
    if (!digits) continue;
    int n = std::stoi(l);
    EXPECT_GE(n, lo);
    EXPECT_LE(n, hi);
    seen.insert(n);
  }
  return seen;
}

FIXTURE_TEST(WasimancerRollDice, TwoD6) {  // {"numFaces":6,"numDice":2} → 2..12
  for (const char* plugin : kRollDice) {
    SCOPED_TRACE(plugin);
    auto r = Cli(plugin, "rollDice").input("{\"numFaces\":6,\"numDice\":2}").loop(50).run();
    EXPECT_SUCCESS_ANY_OUTPUT(r);
    auto seen = check_rolls(r, 50, 2, 12);
    EXPECT_GE(seen.size(), 2u) << "50 rolls of 2d6 gave a single value: the WASI random/clock source looks constant";
  }
}

FIXTURE_TEST(WasimancerRollDice, ThreeD6OverManyCalls) {  // ✔ 3d6 over 200 calls gave 4..18
  auto r = Cli(kRollDice[0], "rollDice").input("{\"numFaces\":6,\"numDice\":3}").loop(200).run();
  EXPECT_SUCCESS_ANY_OUTPUT(r);
  auto seen = check_rolls(r, 200, 3, 18);
  EXPECT_GE(seen.size(), 5u);
}

FIXTURE_TEST(WasimancerRollDice, NoDice) {  // numDice 0 → `0`
  for (const char* plugin : kRollDice) {
    SCOPED_TRACE(plugin);
    EXPECT_SUCCESS(Cli(plugin, "rollDice").input("{\"numFaces\":6,\"numDice\":0}").run(), "0");
  }
}

FIXTURE_TEST(WasimancerRollDice, ZeroFacesPanics) {
  // TinyGo panic: fd 1 gets `panic: invalid argument to Intn`, then `unreachable` (Rust rc 134).
  for (const char* plugin : kRollDice) {
    SCOPED_TRACE(plugin);
    auto r = Cli(plugin, "rollDice").input("{\"numFaces\":0,\"numDice\":2}").run();
    EXPECT_CALL_ERROR(r, "trap");
    EXPECT_MESSAGE_CONTAINS(r, "unreachable");
    EXPECT_MESSAGE_CONTAINS(r, "panic: invalid argument to Intn");
  }
}

}  // namespace
}  // namespace wasimancer::test::catalog

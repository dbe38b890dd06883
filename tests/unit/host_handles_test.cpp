// Handle misuse across the extism:host/env host functions (extism-abi.md §1: "an invalid key
// handle traps", "an invalid handle traps"; §5 request JSON), which C plugins built on the PDK
// never do; a small inline module does it on purpose. Every such misuse is a HostError trap that
// leaves the instance usable.
#include <gtest/gtest.h>

#include <span>
#include <string>

#include "plugin_helpers.hpp"
#include "wat.hpp"

using namespace wasimancer::host;
using namespace wasimancer::test;

namespace {

const char kWat[] = R"((module
  (import "extism:host/env" "config_get" (func $config_get (param i64) (result i64)))
  (import "extism:host/env" "var_get" (func $var_get (param i64) (result i64)))
  (import "extism:host/env" "var_set" (func $var_set (param i64 i64)))
  (import "extism:host/env" "log_info" (func $log_info (param i64)))
  (import "extism:host/env" "log_error" (func $log_error (param i64)))
  (import "extism:host/env" "http_request" (func $http_request (param i64 i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "free" (func $free (param i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (memory (export "memory") 1)
  (func (export "config_bad") (result i32) (drop (call $config_get (i64.const 12345))) (i32.const 0))
  (func (export "var_get_bad") (result i32) (drop (call $var_get (i64.const 12345))) (i32.const 0))
  (func (export "var_set_bad_key") (result i32) (call $var_set (i64.const 12345) (i64.const 0)) (i32.const 0))
  (func (export "var_set_bad_value") (result i32)
    (call $var_set (call $input_offset) (i64.const 99999)) (i32.const 0))
  (func (export "log_bad") (result i32) (call $log_info (i64.const 777)) (i32.const 0))
  (func (export "log_interior") (result i32)
    (call $log_error (i64.add (call $input_offset) (i64.const 1))) (i32.const 0))
  (func (export "log_freed") (result i32)
    (call $free (call $input_offset))
    (call $log_info (call $input_offset)) (i32.const 0))
  (func (export "http_bad_handle") (result i32) (drop (call $http_request (i64.const 777) (i64.const 0))) (i32.const 0))
  (func (export "http_bad_body") (result i32)
    (drop (call $http_request (call $input_offset) (i64.const 4242))) (i32.const 0))
  (func (export "http_input") (result i32) (drop (call $http_request (call $input_offset) (i64.const 0))) (i32.const 0))
  ;; output_set on a block that was freed: the host reads the range raw (extism-abi.md §1).
  (func (export "output_freed") (result i32) (local $h i64)
    (local.set $h (call $alloc (i64.const 3)))
    (call $store_u8 (local.get $h) (i32.const 97))
    (call $store_u8 (i64.add (local.get $h) (i64.const 1)) (i32.const 98))
    (call $store_u8 (i64.add (local.get $h) (i64.const 2)) (i32.const 99))
    (call $free (local.get $h))
    (call $output_set (local.get $h) (i64.const 3))
    (i32.const 0))
  (func (export "ok") (result i32)
    (call $output_set (call $input_offset) (call $input_length)) (i32.const 0))
))";

class Handles : public PluginTest {
 protected:
  void SetUp() override {
    auto wasm = wat_to_wasm(kWat);
    PluginOptions o;
    o.name = "handles";
    auto p = CompiledPlugin::load(std::span<const uint8_t>(wasm.data(), wasm.size()), o);
    ASSERT_TRUE(p.ok()) << p.error().message;
    plugin = *p;
    inst = make_instance(plugin);
    ASSERT_TRUE(inst);
  }

  // The call fails with a HostError containing `text`, and the instance still works.
  void expect_host_error(const std::string& fn, const std::string& input, const std::string& text) {
    SCOPED_TRACE(fn + "(" + input + ")");
    EXPECT_HOST_ERR(inst->call(fn, input), text);
    EXPECT_TRUE(inst->reusable());
    EXPECT_OUT(inst->call("ok", "still alive"), "still alive");
  }
};

}  // namespace

TEST_F(Handles, InvalidConfigKeyTraps) { expect_host_error("config_bad", "", "invalid handle"); }

TEST_F(Handles, InvalidVarKeyTraps) {
  expect_host_error("var_get_bad", "", "invalid handle");
  expect_host_error("var_set_bad_key", "", "invalid handle");
}

TEST_F(Handles, InvalidVarValueTrapsAndStoresNothing) {
  expect_host_error("var_set_bad_value", "key", "invalid handle");
  EXPECT_FALSE(plugin->vars().get("key").has_value());
}

TEST_F(Handles, InvalidLogHandlesTrap) {
  expect_host_error("log_bad", "", "invalid handle");
  expect_host_error("log_interior", "message", "invalid handle");
  expect_host_error("log_freed", "message", "invalid handle");
}

TEST_F(Handles, InvalidHttpHandlesTrap) {
  expect_host_error("http_bad_handle", "", "invalid handle");
  expect_host_error("http_bad_body", "{\"url\":\"http://127.0.0.1:9/\"}", "invalid handle");
}

TEST_F(Handles, InvalidHttpRequestJsonTraps) {
  expect_host_error("http_input", "not json", "invalid HTTP request JSON");
  expect_host_error("http_input", "[1,2]", "invalid HTTP request JSON");
  expect_host_error("http_input", "{\"method\":\"GET\"}", "url");
  expect_host_error("http_input", "{\"url\":5}", "url");
  expect_host_error("http_input", "{\"url\":\"http://127.0.0.1:9/\",\"method\":5}", "method");
  expect_host_error("http_input", "{\"url\":\"http://127.0.0.1:9/\",\"headers\":[1]}", "headers");
  expect_host_error("http_input", "{\"url\":\"http://127.0.0.1:9/\",\"headers\":{\"a\":1}}", "header");
}

TEST_F(Handles, HttpWithNoAllowedHostsIsDenied) {
  // A valid request, but this plugin allows no host: denied before any connection is made.
  expect_host_error("http_input", "{\"url\":\"http://127.0.0.1:9/x\"}", "HTTP request to http://127.0.0.1:9/x is not allowed");
}

TEST_F(Handles, OutputOfAFreedBlockIsReadRaw) { EXPECT_OUT(inst->call("output_freed", ""), "abc"); }

// Pure computation through compute.wasm (tests/plugins/README.md): the interpreter computes the
// same values as native code (compute_core.h is shared with the benchmark).
#include <gtest/gtest.h>

#include <string>

#include "../plugins/src/compute_core.h"
#include "plugin_helpers.hpp"

using namespace wasimancer::test;

namespace {

class Compute : public PluginTest {
 protected:
  void SetUp() override { load("compute"); }
};

}  // namespace

TEST_F(Compute, FibDocumentedValues) {
  EXPECT_OUT(inst->call("fib", ""), "6765");
  EXPECT_OUT(inst->call("fib", "0"), "0");
  EXPECT_OUT(inst->call("fib", "1"), "1");
  EXPECT_OUT(inst->call("fib", "2"), "1");
  EXPECT_OUT(inst->call("fib", "10"), "55");
  EXPECT_OUT(inst->call("fib", " 20\n"), "6765");
  EXPECT_OUT(inst->call("fib", "30"), "832040");
}

TEST_F(Compute, FibMatchesNative) {
  for (uint32_t n = 0; n <= 22; ++n) {
    SCOPED_TRACE(n);
    EXPECT_OUT(inst->call("fib", std::to_string(n)), std::to_string(compute_fib(n)));
  }
}

TEST_F(Compute, FibOutOfRange) {
  EXPECT_PLUGIN_ERR_RC(inst->call("fib", "94"), 1, "fib: n must be 0..93");
  EXPECT_PLUGIN_ERR_RC(inst->call("fib", "-1"), 1, "fib: n must be 0..93");
  // Invalid input gives the default.
  EXPECT_OUT(inst->call("fib", "twenty"), "6765");
}

TEST_F(Compute, SumLoopDocumentedValues) {
  EXPECT_OUT(inst->call("sum_loop", ""), "584144992");
  EXPECT_OUT(inst->call("sum_loop", "10"), "285");
  EXPECT_OUT(inst->call("sum_loop", "0"), "0");
  EXPECT_OUT(inst->call("sum_loop", "1"), "0");
  EXPECT_OUT(inst->call("sum_loop", "+3"), "5");
}

TEST_F(Compute, SumLoopMatchesNativeIncludingWraparound) {
  // 2,000,000 squares overflow 2^32 many times.
  for (uint32_t n : {100u, 65536u, 65537u, 2000000u}) {
    SCOPED_TRACE(n);
    EXPECT_OUT(inst->call("sum_loop", std::to_string(n)), std::to_string(compute_sum_squares(n)));
  }
}

TEST_F(Compute, SumLoopOutOfRange) {
  EXPECT_PLUGIN_ERR_RC(inst->call("sum_loop", "4294967296"), 1, "sum_loop: n must be 0..4294967295");
  EXPECT_PLUGIN_ERR_RC(inst->call("sum_loop", "-5"), 1, "sum_loop: n must be 0..4294967295");
}

TEST_F(Compute, RepeatedCallsAreStable) {
  for (int k = 0; k < 5; ++k) {
    EXPECT_OUT(inst->call("fib", "15"), "610");
    EXPECT_OUT(inst->call("sum_loop", "10"), "285");
  }
  EXPECT_TRUE(inst->reusable());
}

// core/crash_point.hpp: named crash points for crash-consistency tests.
//
// When the environment variable WASIMANCER_TEST_CRASH_POINT equals `name`, the process kills
// itself with SIGKILL at that point, exactly as `kill -9` would. Only the tests set it; it is
// read once at start-up. Thread safety: safe from any thread.
#pragma once

#include <string_view>

namespace wasimancer {

void crash_point(std::string_view name);

}  // namespace wasimancer

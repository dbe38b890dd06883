// core/crash_point.hpp: named crash and pause points for tests.
//
// When the environment variable WASIMANCER_TEST_CRASH_POINT equals `name`, the process kills
// itself with SIGKILL at that point, exactly as `kill -9` would (crash-consistency tests).
// When WASIMANCER_TEST_PAUSE_POINT is `name:milliseconds`, the thread that reaches the point
// sleeps that long there (tests that need a race window held open). Only the tests set them;
// they are read once, at the first point reached. Thread safety: safe from any thread.
#pragma once

#include <string_view>

namespace wasimancer {

void crash_point(std::string_view name);
void pause_point(std::string_view name);

}  // namespace wasimancer

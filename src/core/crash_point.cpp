#include "core/crash_point.hpp"

#include <csignal>
#include <cstdlib>
#include <string>

namespace wasimancer {

void crash_point(std::string_view name) {
  static const std::string armed = [] {
    const char* e = std::getenv("WASIMANCER_TEST_CRASH_POINT");
    return std::string(e ? e : "");
  }();
  if (!armed.empty() && armed == name) std::raise(SIGKILL);
}

}  // namespace wasimancer

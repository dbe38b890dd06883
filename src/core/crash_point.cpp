#include "core/crash_point.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

namespace wasimancer {

void crash_point(std::string_view name) {
  static const std::string armed = [] {
    const char* e = std::getenv("WASIMANCER_TEST_CRASH_POINT");
    return std::string(e ? e : "");
  }();
  if (!armed.empty() && armed == name) std::raise(SIGKILL);
}

void pause_point(std::string_view name) {
  struct Pause {
    std::string name;
    long ms = 0;
  };
  static const Pause armed = [] {
    Pause p;
    const char* e = std::getenv("WASIMANCER_TEST_PAUSE_POINT");
    std::string_view v = e ? e : "";
    if (auto colon = v.rfind(':'); colon != std::string_view::npos) {
      p.name = std::string(v.substr(0, colon));
      p.ms = std::strtol(std::string(v.substr(colon + 1)).c_str(), nullptr, 10);
    }
    return p;
  }();
  if (armed.ms > 0 && armed.name == name) std::this_thread::sleep_for(std::chrono::milliseconds(armed.ms));
}

}  // namespace wasimancer

// engine_diff: the differential fuzzer of the two engine tiers, for `make fuzz`
// (tests/fuzz/run.sh) and for replaying one seed.
//
//   engine_diff [--seconds N] [--first-seed S] [--count N] [--input-bytes B] [--jobs J]
//               [--work-dir DIR] [--cache DIR] [--opt -O0|-O2]
//   engine_diff --replay FILE.wasm [--cache DIR] [--opt O] [--nan]   compare the tiers on one module,
//               print both traces (memory byte for byte; --nan: sizes only, for a module that may
//               store NaNs, whose payloads may differ between the tiers)
//
// Exit status: 0 if the tiers agreed on every module, 1 if not (findings are printed and the
// modules kept in the work folder), 2 on a usage error.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "engine/module.hpp"
#include "engine_diff.hpp"

using namespace wasimancer;

int main(int argc, char** argv) {
  fuzz::DiffOptions o;
  o.count = 1'000'000'000;
  o.budget = std::chrono::seconds(60);
  o.jobs = std::max(2u, std::thread::hardware_concurrency());
  o.work_dir = "engine-diff";
  o.native.cache_dir = "native-cache";
  o.native.opt_level = "-O0";
  o.native.nice = 0;  // someone waits for these builds
  std::string replay;
  bool nan = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") o.budget = std::chrono::seconds(std::stoull(value()));
    else if (a == "--first-seed") o.first_seed = std::stoull(value());
    else if (a == "--count") o.count = std::stoull(value());
    else if (a == "--input-bytes") o.input_bytes = std::stoull(value());
    else if (a == "--jobs") o.jobs = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--work-dir") o.work_dir = value();
    else if (a == "--cache") o.native.cache_dir = value();
    else if (a == "--opt") o.native.opt_level = value();
    else if (a == "--replay") replay = value();
    else if (a == "--nan") nan = true;
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of tests/fuzz/engine_diff_main.cpp)\n", a.c_str());
      return 2;
    }
  }
  if (!replay.empty()) {
    std::ifstream in(replay, std::ios::binary);
    std::vector<uint8_t> wasm((std::istreambuf_iterator<char>(in)), {});
    auto m = engine::Module::compile(wasm);
    if (!m) {
      std::fprintf(stderr, "%s\n", m.error().message.c_str());
      return 2;
    }
    auto code = engine::load_native(**m, o.native);
    if (!code) {
      std::fprintf(stderr, "native build: %s\n", code.error().message.c_str());
      return 2;
    }
    auto a = fuzz::run_tier(wasm, nullptr, o.call_timeout, !nan, true);
    auto b = fuzz::run_tier(wasm, *code, o.call_timeout, !nan, true);
    for (size_t i = 0; i < std::max(a.events.size(), b.events.size()); ++i) {
      std::printf("%4zu  %-60s  %s\n", i, i < a.events.size() ? a.events[i].c_str() : "-", i < b.events.size() ? b.events[i].c_str() : "-");
    }
    std::string diff = fuzz::compare_traces(a, b);
    std::printf("%s\n", diff.empty() ? "the tiers agree" : diff.c_str());
    // Where the memories first differ: the bytes around the first difference.
    for (const auto& [i, ma] : a.memories) {
      auto it = b.memories.find(i);
      if (it == b.memories.end() || it->second == ma) continue;
      const auto& mb = it->second;
      size_t k = 0;
      while (k < ma.size() && k < mb.size() && ma[k] == mb[k]) ++k;
      size_t last = std::min(ma.size(), mb.size());
      while (last > k && ma[last - 1] == mb[last - 1]) --last;
      std::printf("memory after event %zu differs in [0x%zx, 0x%zx):\n", i, k, last);
      for (size_t at = k & ~size_t(15); at < std::min(last, k + 64); at += 16) {
        std::printf("  %08zx  interpreter", at);
        for (size_t j = at; j < at + 16 && j < ma.size(); ++j) std::printf(" %02x", ma[j]);
        std::printf("\n  %08zx  native     ", at);
        for (size_t j = at; j < at + 16 && j < mb.size(); ++j) std::printf(" %02x", mb[j]);
        std::printf("\n");
      }
      break;
    }
    return diff.empty() ? 0 : 1;
  }
  o.progress = [](const std::string& line) { std::printf("%s\n", line.c_str()); std::fflush(stdout); };
  auto report = fuzz::run_differential(o);
  for (const auto& n : report.notes) std::printf("skipped %s\n", n.c_str());
  return report.findings.empty() ? 0 : 1;
}

# Engine fuzzing (tests/fuzz/engine_*; tests/spec/README.md says more):
#   fuzz_engine_diff_test   GoogleTest: the differential smoke run (both tiers, fixed seeds), in make test
#   engine_diff             the differential fuzzer for make fuzz (tests/fuzz/engine_run.sh)
#   fuzz_engine_loader      libFuzzer: check_module + Module::compile + the interpreter's preparation
#   fuzz_engine_instrument  libFuzzer: instrument() in both flavours, whose output must validate
# Included from tests/CMakeLists.txt; paths are relative to this file.
set(engine_fuzz_dir ${CMAKE_CURRENT_LIST_DIR})

add_library(wm_engine_diff STATIC ${engine_fuzz_dir}/engine_diff.cpp)
target_include_directories(wm_engine_diff PUBLIC ${engine_fuzz_dir} ${engine_fuzz_dir}/../spec)
target_link_libraries(wm_engine_diff PUBLIC wm_engine wm_test_support Boost::json fmt::fmt)

add_executable(fuzz_engine_diff_test ${engine_fuzz_dir}/engine_diff_test.cpp)
target_link_libraries(fuzz_engine_diff_test PRIVATE wm_engine_diff GTest::gtest_main)
target_compile_definitions(fuzz_engine_diff_test PRIVATE WASIMANCER_ENGINE_DIFF_DIR="${PROJECT_BINARY_DIR}/engine-diff")
set_target_properties(fuzz_engine_diff_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
add_test(NAME fuzz_engine_diff_test COMMAND fuzz_engine_diff_test)

add_executable(engine_diff ${engine_fuzz_dir}/engine_diff_main.cpp)
target_link_libraries(engine_diff PRIVATE wm_engine_diff)
set_target_properties(engine_diff PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)

# libFuzzer targets: in a normal build only the harness is instrumented (a plain binary that
# replays inputs); `make fuzz` builds them in build-fuzz with coverage everywhere plus ASan/UBSan.
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
check_cxx_source_compiles("#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }"
                          WASIMANCER_ENGINE_HAVE_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)
add_custom_target(engine_fuzz_all DEPENDS engine_diff)
if(WASIMANCER_ENGINE_HAVE_LIBFUZZER)
  foreach(name loader instrument)
    add_executable(fuzz_engine_${name} ${engine_fuzz_dir}/engine_fuzz_${name}.cpp)
    target_compile_options(fuzz_engine_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_engine_${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_engine_${name} PRIVATE wm_engine wabt::wabt)
    set_target_properties(fuzz_engine_${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
    add_dependencies(engine_fuzz_all fuzz_engine_${name})
  endforeach()
else()
  message(STATUS "libFuzzer (clang -fsanitize=fuzzer) not available: engine fuzz targets not built")
endif()

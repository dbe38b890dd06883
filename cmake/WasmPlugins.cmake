# cmake/WasmPlugins.cmake: building WebAssembly plugins from C (clang --target=wasm32-wasi,
# against our PDK header tests/plugins/pdk/wasimancer-pdk.h) and from wat (wat2wasm).
# Included by tests/plugins (test plugins), tests/conformance and examples.
#
# Toolchain (Debian 12): clang lld wasi-libc libclang-rt-14-dev-wasm32 wabt
# (scripts/install-deps.sh installs them).
include_guard(GLOBAL)
get_filename_component(WASIMANCER_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)

find_program(WASIMANCER_WASM_CC NAMES clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14
  DOC "clang used to build the wasm32-wasi test plugins")
find_program(WASIMANCER_WAT2WASM NAMES wat2wasm DOC "wat2wasm (wabt) used to build the .wat test plugins")
if(NOT WASIMANCER_WASM_CC)
  message(FATAL_ERROR "clang not found: the wasm test plugins need clang, lld, wasi-libc and "
                      "libclang-rt-14-dev-wasm32 (see scripts/install-deps.sh)")
endif()
if(NOT WASIMANCER_WAT2WASM)
  message(FATAL_ERROR "wat2wasm not found: install wabt (see scripts/install-deps.sh)")
endif()

set(WASIMANCER_TEST_PLUGIN_DIR "${CMAKE_BINARY_DIR}/plugins" CACHE INTERNAL
    "Directory holding the built wasm test plugins")
set(WASIMANCER_TEST_PLUGIN_SRC_DIR "${WASIMANCER_ROOT}/tests/plugins/src" CACHE INTERNAL
    "Sources of the wasm test plugins (compute_core.h is shared with the native benchmark)")
set(WASIMANCER_PDK_DIR "${WASIMANCER_ROOT}/tests/plugins/pdk" CACHE INTERNAL "Our C PDK header directory")
file(MAKE_DIRECTORY "${WASIMANCER_TEST_PLUGIN_DIR}")

set(WASIMANCER_WASM_CFLAGS --target=wasm32-wasi -O2 -mexec-model=reactor -std=c11 -Wall -Wextra
    CACHE STRING "Flags for building the wasm test plugins")

# Fail at configure time, with a useful message, when clang cannot build wasm32-wasi.
if(NOT WASIMANCER_WASM_TOOLCHAIN_OK)
  set(_probe_dir "${CMAKE_CURRENT_BINARY_DIR}/toolchain-probe")
  file(MAKE_DIRECTORY "${_probe_dir}")
  file(WRITE "${_probe_dir}/probe.c"
       "#include <stdlib.h>\n__attribute__((export_name(\"f\"))) int f(void) { return abs(-1); }\n")
  execute_process(
    COMMAND "${WASIMANCER_WASM_CC}" ${WASIMANCER_WASM_CFLAGS} -o "${_probe_dir}/probe.wasm" "${_probe_dir}/probe.c"
    RESULT_VARIABLE _probe_rc OUTPUT_VARIABLE _probe_out ERROR_VARIABLE _probe_out)
  if(NOT _probe_rc EQUAL 0)
    message(FATAL_ERROR "${WASIMANCER_WASM_CC} cannot build wasm32-wasi reactor modules; install clang, "
                        "lld, wasi-libc and libclang-rt-14-dev-wasm32.\n${_probe_out}")
  endif()
  set(WASIMANCER_WASM_TOOLCHAIN_OK ON CACHE INTERNAL "clang can build wasm32-wasi")
endif()

if(NOT TARGET test_plugins)
  add_custom_target(test_plugins ALL COMMENT "wasm test plugins are up to date")
endif()

# Headers every C plugin depends on (re-listed explicitly so incremental builds
# rebuild when the PDK or a shared header changes).
set(WASIMANCER_PLUGIN_HEADERS
    "${WASIMANCER_PDK_DIR}/wasimancer-pdk.h"
    "${WASIMANCER_TEST_PLUGIN_SRC_DIR}/compute_core.h"
    CACHE INTERNAL "Headers the C test plugins depend on")

# wasimancer_add_wasm_plugin(NAME <name> SOURCES <c files...>
#                            [OUTPUT_DIR <dir>]         default: WASIMANCER_TEST_PLUGIN_DIR
#                            [GROUP <target>]           default: test_plugins (must exist)
#                            [EXPORTS <fn...>]          extra -Wl,--export=<fn>
#                            [COMPILE_OPTIONS <opt...>] [LINK_OPTIONS <opt...>]
#                            [DEPENDS <files...>])
# Relative SOURCES are taken from the calling directory.
function(wasimancer_add_wasm_plugin)
  cmake_parse_arguments(ARG "" "NAME;OUTPUT_DIR;GROUP" "SOURCES;EXPORTS;COMPILE_OPTIONS;LINK_OPTIONS;DEPENDS" ${ARGN})
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR "${WASIMANCER_TEST_PLUGIN_DIR}")
  endif()
  if(NOT ARG_GROUP)
    set(ARG_GROUP test_plugins)
  endif()
  if(NOT ARG_NAME OR NOT ARG_SOURCES)
    message(FATAL_ERROR "wasimancer_add_wasm_plugin: NAME and SOURCES are required")
  endif()
  set(out "${ARG_OUTPUT_DIR}/${ARG_NAME}.wasm")
  set(srcs "")
  foreach(s IN LISTS ARG_SOURCES)
    get_filename_component(abs "${s}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND srcs "${abs}")
  endforeach()
  set(export_flags "")
  foreach(e IN LISTS ARG_EXPORTS)
    list(APPEND export_flags "-Wl,--export=${e}")
  endforeach()
  add_custom_command(
    OUTPUT "${out}"
    COMMAND "${WASIMANCER_WASM_CC}" ${WASIMANCER_WASM_CFLAGS}
            "-I${WASIMANCER_PDK_DIR}" "-I${WASIMANCER_TEST_PLUGIN_SRC_DIR}"
            ${ARG_COMPILE_OPTIONS} -Wl,--strip-debug ${export_flags} ${ARG_LINK_OPTIONS}
            -o "${out}" ${srcs}
    DEPENDS ${srcs} ${WASIMANCER_PLUGIN_HEADERS} ${ARG_DEPENDS}
    COMMENT "Building wasm test plugin ${ARG_NAME}.wasm"
    VERBATIM COMMAND_EXPAND_LISTS)
  add_custom_target(${ARG_GROUP}_${ARG_NAME} DEPENDS "${out}")
  add_dependencies(${ARG_GROUP} ${ARG_GROUP}_${ARG_NAME})
  if(ARG_GROUP STREQUAL "test_plugins")
    set_property(GLOBAL APPEND PROPERTY WASIMANCER_TEST_PLUGINS ${ARG_NAME})
  endif()
endfunction()

# wasimancer_add_wat_plugin(NAME <name> SOURCE <file.wat> [FLAGS <wat2wasm flags...>])
function(wasimancer_add_wat_plugin)
  cmake_parse_arguments(ARG "" "NAME;SOURCE" "FLAGS" ${ARGN})
  if(NOT ARG_NAME OR NOT ARG_SOURCE)
    message(FATAL_ERROR "wasimancer_add_wat_plugin: NAME and SOURCE are required")
  endif()
  set(out "${WASIMANCER_TEST_PLUGIN_DIR}/${ARG_NAME}.wasm")
  get_filename_component(src "${ARG_SOURCE}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND "${WASIMANCER_WAT2WASM}" ${ARG_FLAGS} -o "${out}" "${src}"
    DEPENDS "${src}"
    COMMENT "Building wasm test plugin ${ARG_NAME}.wasm (wat)"
    VERBATIM COMMAND_EXPAND_LISTS)
  add_custom_target(test_plugins_${ARG_NAME} DEPENDS "${out}")
  add_dependencies(test_plugins test_plugins_${ARG_NAME})
  set_property(GLOBAL APPEND PROPERTY WASIMANCER_TEST_PLUGINS ${ARG_NAME})
endfunction()


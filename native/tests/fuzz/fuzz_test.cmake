# Builds the libFuzzer targets with clang (whatever compiler builds the rest)
# and registers a bounded run of each as a CTest test over its seed corpus in
# native/tests/fuzz/corpus/<target>. Needs clang++ (14) and its compiler-rt
# (Debian: clang-14, libclang-rt-14-dev); without them the test fails with
# a message saying so, unless SVDQ_FUZZ is OFF. Linux/macOS only: libFuzzer needs clang's
# own runtime, which MSVC builds do not have.
option(SVDQ_FUZZ "Build the libFuzzer targets with clang and run them under CTest" ON)
set(SVDQ_FUZZ_SECONDS 10 CACHE STRING "How long the CTest run of each fuzzer lasts")
# Inputs up to 1 MiB: the seeds nesting JSON 10^5 deep (400 KB) must fit.
set(SVDQ_FUZZ_MAX_LEN 1048576)
set(svdq_fuzz_targets fuzz_safetensors_header fuzz_flux_config fuzz_layer_metadata fuzz_nunchaku_metadata)

if(SVDQ_FUZZ AND NOT WIN32)
  find_program(SVDQ_FUZZ_CLANG NAMES clang++-14 clang++)
  set(probe_dir ${CMAKE_CURRENT_BINARY_DIR}/fuzz-probe)
  set(probe_ok 1)
  if(SVDQ_FUZZ_CLANG)
    file(WRITE ${probe_dir}/probe.cpp
      "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
    execute_process(COMMAND ${SVDQ_FUZZ_CLANG} -fsanitize=fuzzer,address ${probe_dir}/probe.cpp -o ${probe_dir}/probe
                    RESULT_VARIABLE probe_ok OUTPUT_QUIET ERROR_QUIET)
  endif()
  if(NOT probe_ok EQUAL 0)
    # A fuzzer that cannot be built fails the suite rather than vanishing
    # from it; configure with -DSVDQ_FUZZ=OFF to leave it out on purpose.
    set(why "the fuzzer was not built: no clang++ that links -fsanitize=fuzzer (install clang-14 libclang-rt-14-dev, or configure with -DSVDQ_FUZZ=OFF)")
    message(WARNING "${why}")
    foreach(target ${svdq_fuzz_targets})
      add_test(NAME ${target} COMMAND ${CMAKE_COMMAND} -E echo "${why}")
      set_tests_properties(${target} PROPERTIES FAIL_REGULAR_EXPRESSION "not built")
    endforeach()
  else()
    include(ExternalProject)
    set(fuzz_build ${CMAKE_CURRENT_BINARY_DIR}/fuzz-build)
    ExternalProject_Add(svdquant_fuzz
      SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz
      BINARY_DIR ${fuzz_build}
      CMAKE_ARGS -DCMAKE_CXX_COMPILER=${SVDQ_FUZZ_CLANG} -DCMAKE_BUILD_TYPE=RelWithDebInfo
                 -DSVDQ_NATIVE_DIR=${PROJECT_SOURCE_DIR}/native -DSVDQ_VERSION=${PROJECT_VERSION}
      INSTALL_COMMAND ""
      BUILD_ALWAYS ON)
    # New inputs go to a work corpus in the build tree; the seeds stay read-only.
    foreach(target ${svdq_fuzz_targets})
      set(fuzz_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz-work/${target})
      file(MAKE_DIRECTORY ${fuzz_work}/corpus ${fuzz_work}/artifacts)
      add_test(NAME ${target}
        COMMAND ${fuzz_build}/${target} -max_total_time=${SVDQ_FUZZ_SECONDS} -max_len=${SVDQ_FUZZ_MAX_LEN} -timeout=10
                -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=${fuzz_work}/artifacts/
                ${fuzz_work}/corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${target})
      set_tests_properties(${target} PROPERTIES TIMEOUT 120)
    endforeach()
  endif()
endif()

# Builds the libFuzzer target with clang (whatever compiler builds the rest)
# and registers a bounded run of it as a CTest test over the seed corpus in
# native/tests/fuzz/corpus. Needs clang++ (14) and its compiler-rt
# (Debian: clang-14, libclang-rt-14-dev); without them the test fails with
# a message saying so, unless SVDQ_FUZZ is OFF. Linux/macOS only: libFuzzer needs clang's
# own runtime, which MSVC builds do not have.
option(SVDQ_FUZZ "Build the safetensors header fuzzer with clang and run it under CTest" ON)
set(SVDQ_FUZZ_SECONDS 20 CACHE STRING "How long the CTest run of the fuzzer lasts")

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
    add_test(NAME fuzz_safetensors_header COMMAND ${CMAKE_COMMAND} -E echo "${why}")
    set_tests_properties(fuzz_safetensors_header PROPERTIES FAIL_REGULAR_EXPRESSION "not built")
  else()
    include(ExternalProject)
    set(fuzz_build ${CMAKE_CURRENT_BINARY_DIR}/fuzz-build)
    ExternalProject_Add(svdquant_fuzz
      SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz
      BINARY_DIR ${fuzz_build}
      CMAKE_ARGS -DCMAKE_CXX_COMPILER=${SVDQ_FUZZ_CLANG} -DCMAKE_BUILD_TYPE=RelWithDebInfo
                 -DSVDQ_NATIVE_DIR=${PROJECT_SOURCE_DIR}/native
      INSTALL_COMMAND ""
      BUILD_ALWAYS ON)
    # New inputs go to a work corpus in the build tree; the seeds stay read-only.
    set(fuzz_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz-work)
    file(MAKE_DIRECTORY ${fuzz_work}/corpus ${fuzz_work}/artifacts)
    add_test(NAME fuzz_safetensors_header
      COMMAND ${fuzz_build}/fuzz_safetensors_header -max_total_time=${SVDQ_FUZZ_SECONDS} -timeout=10
              -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=${fuzz_work}/artifacts/
              ${fuzz_work}/corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus)
    set_tests_properties(fuzz_safetensors_header PROPERTIES TIMEOUT 120)
  endif()
endif()

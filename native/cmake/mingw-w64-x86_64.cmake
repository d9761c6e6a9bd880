# Cross-compiles the engine for win-x64 with Debian's MinGW-w64 GCC, posix
# thread model (std::thread and std::mutex need it; package
# g++-mingw-w64-x86-64-posix). Used by native/tests/windows/run.sh.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(SVDQ_MINGW_PREFIX x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${SVDQ_MINGW_PREFIX}-gcc-posix)
set(CMAKE_CXX_COMPILER ${SVDQ_MINGW_PREFIX}-g++-posix)
set(CMAKE_RC_COMPILER ${SVDQ_MINGW_PREFIX}-windres)
set(CMAKE_OBJDUMP ${SVDQ_MINGW_PREFIX}-objdump)

# Only the MinGW sysroot: Linux headers and libraries under /usr must never
# leak in (header-only dependencies come as folders of their own).
set(CMAKE_FIND_ROOT_PATH /usr/${SVDQ_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# GCC cannot realign the Win64 stack to 32 or 64 bytes, yet spills __m256 and
# __m512 there with aligned moves: a crash in the AVX2/AVX-512 kernels. The
# assembler (binutils 2.38+) turns every aligned vector move into its
# unaligned twin, which is as fast on aligned data.
set(CMAKE_C_FLAGS_INIT "-Wa,-muse-unaligned-vector-move")
set(CMAKE_CXX_FLAGS_INIT "-Wa,-muse-unaligned-vector-move")

# The test programs (and test DLLs) carry their C++ runtime too, so they run
# under wine without MinGW's DLLs on its path.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")

# Decides whether libsvdquant_cuda is built (SVDQ_CUDA: ON, OFF or AUTO =
# when nvcc is found) and enables CUDA for it. nvcc older than 12 does not
# accept GCC 12 as its host compiler: then clang++-14 hosts it, unless
# CMAKE_CUDA_HOST_COMPILER says otherwise. Sets SVDQ_CUDA_ENABLED.
set(SVDQ_CUDA_ENABLED OFF)
if(SVDQ_CUDA STREQUAL "OFF")
  return()
endif()

if(NOT CMAKE_CUDA_COMPILER)
  find_program(SVDQ_NVCC nvcc HINTS ENV CUDA_PATH PATH_SUFFIXES bin PATHS /usr/local/cuda/bin)
  if(SVDQ_NVCC)
    set(CMAKE_CUDA_COMPILER "${SVDQ_NVCC}" CACHE FILEPATH "CUDA compiler")
  endif()
endif()
if(NOT CMAKE_CUDA_COMPILER)
  if(SVDQ_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SVDQ_CUDA=ON but nvcc was not found: install the CUDA toolkit or set CMAKE_CUDA_COMPILER")
  endif()
  message(STATUS "CUDA backend: not built (no nvcc; SVDQ_CUDA=AUTO)")
  return()
endif()

execute_process(COMMAND "${CMAKE_CUDA_COMPILER}" --version OUTPUT_VARIABLE nvcc_version_text)
string(REGEX MATCH "release ([0-9]+\\.[0-9]+)" _ "${nvcc_version_text}")
set(svdq_nvcc_version "${CMAKE_MATCH_1}")
if(NOT CMAKE_CUDA_HOST_COMPILER AND svdq_nvcc_version VERSION_LESS 12.0
   AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
  find_program(SVDQ_CUDA_CLANG NAMES clang++-14 clang-14)
  if(NOT SVDQ_CUDA_CLANG)
    message(FATAL_ERROR "nvcc ${svdq_nvcc_version} cannot use GCC ${CMAKE_CXX_COMPILER_VERSION} as host compiler: "
                        "install clang-14 or set CMAKE_CUDA_HOST_COMPILER")
  endif()
  set(CMAKE_CUDA_HOST_COMPILER "${SVDQ_CUDA_CLANG}" CACHE FILEPATH "nvcc's host compiler")
endif()

# Turing (INT4 m8n8k32), Ampere and Ada (INT4 m16n8k64), Hopper (INT8 m16n8k32);
# CMake's CUDAARCHS environment variable chooses others (CI: one per MMA path).
# Read here, not left to enable_language: that reads it only where the folder
# meets CUDA first, and CI enables CUDA in a folder built without it.
if(NOT CMAKE_CUDA_ARCHITECTURES)
  if(DEFINED ENV{CUDAARCHS})
    set(CMAKE_CUDA_ARCHITECTURES $ENV{CUDAARCHS})
  else()
    set(CMAKE_CUDA_ARCHITECTURES 75 80 86 89 90)
  endif()
endif()
# Blackwell's arch-specific target (its FP4 MMA) where nvcc has it, given to
# nvcc directly: older CMake releases refuse an "a" suffix in the list above.
set(SVDQ_CUDA_EXTRA_GENCODE "")
if(svdq_nvcc_version VERSION_GREATER_EQUAL 12.8)
  set(SVDQ_CUDA_EXTRA_GENCODE "--generate-code=arch=compute_120a,code=sm_120a")
endif()
enable_language(CUDA)
set(SVDQ_CUDA_ENABLED ON)
message(STATUS "CUDA backend: nvcc ${svdq_nvcc_version}, host ${CMAKE_CUDA_HOST_COMPILER}, architectures ${CMAKE_CUDA_ARCHITECTURES} ${SVDQ_CUDA_EXTRA_GENCODE}")

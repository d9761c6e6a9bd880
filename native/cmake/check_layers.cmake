# The engine's layering, checked on every build (cmake -P check_layers.cmake
# -DSRC=native/src): each folder of native/src may include only the folders
# below it, so includes cannot run upward or in circles. An offending include
# fails the build naming the file, the line and the rule it breaks.
#
#   api      the C door: may include everything
#   pipelines generation around a model: noise, schedule, sampler, guidance
#   models   model families (flux/), the registry
#   quant    the offline quantizer; host math through backend/host_gemm.h
#   formats  safetensors I/O and the checkpoint converters
#   sampling flow-matching schedules, samplers, noise, latent layout (host math)
#   nn       layers over the backend interface
#   backend  the interface and the context; cpu/ implements it; plugin/ is
#            the C door to backends built as libraries of their own, and
#            cuda/ (libsvdquant_cuda) sees nothing of the engine but that door
#   core     errors, host tensors, numerics, threads
cmake_minimum_required(VERSION 3.20)

set(allowed_core core)
set(allowed_backend core backend)
set(allowed_nn core backend nn)
set(allowed_formats core nn formats)
set(allowed_sampling core sampling)
set(allowed_quant core backend nn formats quant)
set(allowed_models core backend nn formats quant sampling models)
set(allowed_pipelines core backend nn formats quant sampling models pipelines)
set(allowed_api core backend nn formats quant sampling models pipelines api)
# backend/cpu/ is the CPU backend's inside: only backend/ itself reaches into it.
set(cpu_inside_allowed backend)

if(NOT SRC)
  message(FATAL_ERROR "usage: cmake -DSRC=<native/src> -P check_layers.cmake")
endif()
file(GLOB_RECURSE sources RELATIVE "${SRC}" "${SRC}/*.h" "${SRC}/*.cpp" "${SRC}/*.cu" "${SRC}/*.cuh")
set(errors "")
foreach(source IN LISTS sources)
  string(REGEX MATCH "^[^/]+" folder "${source}")
  if(NOT DEFINED allowed_${folder})
    string(APPEND errors "native/src/${source}: folder '${folder}' has no place in the layering (add it to check_layers.cmake)\n")
    continue()
  endif()
  file(STRINGS "${SRC}/${source}" lines)
  set(number 0)
  foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\"")
      continue()
    endif()
    set(target "${CMAKE_MATCH_1}")
    if(NOT target MATCHES "/")
      continue()  # svdquant.h, the public header, is below everything
    endif()
    string(REGEX MATCH "^[^/]+" target_folder "${target}")
    list(FIND allowed_${folder} "${target_folder}" found)
    if(found EQUAL -1)
      string(APPEND errors "native/src/${source}:${number}: ${folder}/ may not include ${target} (${folder} may include: ${allowed_${folder}})\n")
    elseif(source MATCHES "^backend/cuda/" AND NOT target MATCHES "^backend/(cuda|plugin)/")
      string(APPEND errors "native/src/${source}:${number}: backend/cuda/ may include only backend/cuda/ and backend/plugin/ (it is a library of its own): ${target}\n")
    elseif(target MATCHES "^backend/cuda/" AND NOT source MATCHES "^backend/cuda/")
      string(APPEND errors "native/src/${source}:${number}: ${target} is inside libsvdquant_cuda: the engine reaches it through backend/plugin/ only\n")
    elseif(target MATCHES "^backend/cpu/" AND NOT source MATCHES "^backend/")
      list(FIND cpu_inside_allowed "${folder}" found)
      if(found EQUAL -1)
        string(APPEND errors "native/src/${source}:${number}: ${folder}/ may not include ${target}: only the backend interface (backend/*.h) is visible above the backend\n")
      endif()
    endif()
  endforeach()
endforeach()
if(errors)
  message(FATAL_ERROR "include layering broken:\n${errors}")
endif()

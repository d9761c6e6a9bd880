# svdq_header_dependency(PACKAGE TARGET DIR_VARIABLE PROBE_HEADER MIN_VERSION)
# Finds a header-only dependency as an installed CMake package, or else makes
# TARGET from the folder in DIR_VARIABLE (checked to hold PROBE_HEADER); fails
# naming both ways when neither is there.
function(svdq_header_dependency package target dir_variable probe min_version)
  set(${dir_variable} "" CACHE PATH "Folder holding ${probe}, used when the ${package} package is not installed")
  find_package(${package} ${min_version} QUIET NO_MODULE)
  if(${package}_FOUND AND TARGET ${target})
    return()
  endif()
  if(NOT ${dir_variable} OR NOT EXISTS "${${dir_variable}}/${probe}")
    message(FATAL_ERROR "${package} ${min_version}+ not found: install it (Debian: see build.sh) or pass "
                        "-D${dir_variable}=<folder holding ${probe}>")
  endif()
  add_library(${target} INTERFACE IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${${dir_variable}}")
  message(STATUS "${package}: headers from ${${dir_variable}}")
endfunction()

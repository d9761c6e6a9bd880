#!/usr/bin/env bash
# Copies the native suite's header-only dependencies and GoogleTest's sources
# from this machine's Debian packages into DIR (default build-gpu-deps/), for
# a GPU host that has only CUDA, CMake and a C++ compiler (run.sh uses them
# when it finds them). Usage: native/tests/gpu/bundle_deps.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir=${1:-build-gpu-deps}
rm -rf "$dir"
mkdir -p "$dir/json"
cp -r /usr/include/eigen3 "$dir/eigen3"
cp -r /usr/include/nlohmann "$dir/json/nlohmann"
cp -r /usr/src/googletest "$dir/googletest"
du -sh "$dir"

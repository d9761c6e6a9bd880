#!/usr/bin/env bash
# The long fuzzing campaign of one target: EXECUTIONS runs on one core,
# starting from the seed corpus, new inputs kept in a work folder.
#   native/tests/fuzz/campaign.sh TARGET [EXECUTIONS] [BUILD_DIR]
# TARGET: fuzz_safetensors_header, fuzz_flux_config, fuzz_layer_metadata or
# fuzz_nunchaku_metadata. BUILD_DIR (default: build) is the CMake build tree
# of the main project, whose build step builds the fuzzers. Stops at the
# first crash, sanitizer report or unexpected exception (exit status != 0,
# the input saved under the work folder's artifacts/); the last lines of the
# log are libFuzzer's final stats: executions (stat::number_of_executed_units),
# exec/s, and coverage (cov: and ft: of the last status line).
# MAX_LEN (default 65536: JSON nested 65536 deep, 1000 times the parsers'
# limit, at a speed that makes 10^7 runs possible; CTest uses 1 MiB for the
# 10^5-deep seeds, which are cut to MAX_LEN here) and MAX_SECONDS (default:
# no limit) tune the run.
set -euo pipefail
target=${1:?usage: campaign.sh TARGET [EXECUTIONS] [BUILD_DIR]}
executions=${2:-10000000}
build=${3:-build}
here=$(cd "$(dirname "$0")" && pwd)
fuzzer=$build/native/tests/fuzz-build/$target
work=$build/native/tests/fuzz-campaign/$target
mkdir -p "$work/corpus" "$work/artifacts"
set -x
"$fuzzer" -runs="$executions" -max_len="${MAX_LEN:-65536}" -max_total_time="${MAX_SECONDS:-0}" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "$here/corpus/$target" \
  2>&1 | tee "$work/campaign.log"

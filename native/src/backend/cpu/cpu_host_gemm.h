// HostGemm on one CPU kernel level's float GEMM.
#pragma once

#include <memory>

#include "backend/host_gemm.h"
#include "svdquant.h"

namespace svdq {

std::unique_ptr<HostGemm> make_cpu_host_gemm(svdq_cpu_level level);

}  // namespace svdq

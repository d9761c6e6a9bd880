#include "core/logger.h"

namespace svdq {

void Logger::log(svdq_log_level level, const std::string& message) const {
    if (callback_ == nullptr || level < min_level_) return;
    callback_(level, message.c_str(), user_);
}

}  // namespace svdq

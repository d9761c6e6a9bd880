// Forwards engine log lines to the host's callback, filtered by level.
#pragma once

#include <string>

#include "svdquant.h"

namespace svdq {

class Logger {
public:
    Logger() = default;
    Logger(svdq_log_fn callback, void* user, int32_t min_level) : callback_(callback), user_(user), min_level_(min_level) {}

    void log(svdq_log_level level, const std::string& message) const;
    // Whether a message of `level` reaches the callback (build costly messages only then).
    bool enabled(svdq_log_level level) const { return callback_ != nullptr && level >= min_level_; }
    void info(const std::string& message) const { log(SVDQ_LOG_INFO, message); }
    void debug(const std::string& message) const { log(SVDQ_LOG_DEBUG, message); }

private:
    svdq_log_fn callback_ = nullptr;
    void* user_ = nullptr;
    int32_t min_level_ = SVDQ_LOG_INFO;
};

}  // namespace svdq

// The calling thread's last error message, read by svdq_last_error_message().
#pragma once

#include <string>

namespace svdq {

void set_last_error(std::string message);
void clear_last_error();
const char* last_error();

}  // namespace svdq

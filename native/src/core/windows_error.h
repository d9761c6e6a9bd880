// "Windows error CODE: the system's text for it", for messages (Windows builds only).
#pragma once

#include <string>

namespace svdq {

std::string windows_error_text(unsigned long code);

}  // namespace svdq

// The C handle of a parsed LoRA file, shared by the LoRA file functions and
// the model functions that add one.
#pragma once

#include "formats/lora_file.h"

struct svdq_lora {
    svdq::LoraFile file;
};

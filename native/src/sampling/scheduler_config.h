// The scheduler settings of a flow-matching model folder: diffusers'
// scheduler/scheduler_config.json for FlowMatchEulerDiscreteScheduler, or the
// defaults a FLUX model without one gets.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace svdq {

enum class TimeShiftType { exponential, linear };

// diffusers' FlowMatchEulerDiscreteScheduler config, the keys that decide the
// schedule; defaults as diffusers has them.
struct SchedulerConfig {
    bool use_dynamic_shifting = false;
    double shift = 1.0;  // the static shift s (when not dynamic)
    double base_shift = 0.5, max_shift = 1.15;
    double base_image_seq_len = 256, max_image_seq_len = 4096;
    TimeShiftType time_shift_type = TimeShiftType::exponential;
};

// The config a model folder without scheduler/scheduler_config.json gets:
// guidance-distilled FLUX.1-dev-style models (guidance_embeds) shift
// dynamically, schnell-style ones are unshifted (static shift 1).
SchedulerConfig default_scheduler_config(bool guidance_embeds);

// Reads the keys above from a parsed scheduler_config.json; missing keys and
// null values keep their defaults, other keys are ignored. A key of the wrong
// type or an out-of-range value is SVDQ_ERROR_FORMAT naming `what` and the
// key; settings that would change the schedule in ways not implemented here
// (use_karras/exponential/beta_sigmas, invert_sigmas, shift_terminal,
// stochastic_sampling, num_train_timesteps other than 1000) are
// SVDQ_ERROR_UNSUPPORTED naming the key.
SchedulerConfig scheduler_config_from_json(const nlohmann::json& config, const std::string& what);

// The same from JSON text (invalid JSON is SVDQ_ERROR_FORMAT; a duplicate key
// keeps its last value).
SchedulerConfig parse_scheduler_config(std::string_view json_text, const std::string& what);

// Model loaders reading a file should parse it with formats/json_text.h
// (size limits, duplicate keys are errors) and call scheduler_config_from_json.

}  // namespace svdq

#include "sampling/scheduler_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace svdq {

namespace {

using json = nlohmann::json;

class ConfigReader {
public:
    ConfigReader(const json& config, const std::string& what) : config_(config), what_(what) {
        require(config.is_object(), SVDQ_ERROR_FORMAT, what + " is not a JSON object");
    }

    // The key's value, or null when it is missing.
    const json& value(const char* key) const {
        static const json null_value;
        const auto it = config_.find(key);
        return it == config_.end() ? null_value : *it;
    }

    void read(const char* key, bool& out) const {
        const json& v = value(key);
        if (v.is_null()) return;
        require(v.is_boolean(), SVDQ_ERROR_FORMAT, where(key) + " must be true or false (got " + v.dump() + ")");
        out = v.get<bool>();
    }

    void read(const char* key, double& out) const {
        const json& v = value(key);
        if (v.is_null()) return;
        require(v.is_number(), SVDQ_ERROR_FORMAT, where(key) + " must be a number (got " + v.dump() + ")");
        out = v.get<double>();
        require(std::isfinite(out), SVDQ_ERROR_FORMAT, where(key) + " must be finite (got " + v.dump() + ")");
    }

    void read(const char* key, TimeShiftType& out) const {
        const json& v = value(key);
        if (v.is_null()) return;
        const bool known = v.is_string() && (v.get<std::string>() == "exponential" || v.get<std::string>() == "linear");
        require(known, SVDQ_ERROR_FORMAT, where(key) + " must be \"exponential\" or \"linear\" (got " + v.dump() + ")");
        out = v.get<std::string>() == "linear" ? TimeShiftType::linear : TimeShiftType::exponential;
    }

    // A setting this engine does not implement passes only when Python reads
    // it as false, as diffusers' `if config.key:` does (null, false, 0).
    void require_off(const char* key) const {
        const json& v = value(key);
        const bool off = v.is_null() || v == false || (v.is_number() && v.get<double>() == 0.0);
        require(off, SVDQ_ERROR_UNSUPPORTED, where(key) + " = " + v.dump() + " is not supported");
    }

    std::string where(const char* key) const { return what_ + ": " + key; }

private:
    const json& config_;
    const std::string& what_;
};

}  // namespace

SchedulerConfig default_scheduler_config(bool guidance_embeds) {
    SchedulerConfig config;
    config.use_dynamic_shifting = guidance_embeds;
    return config;
}

SchedulerConfig scheduler_config_from_json(const json& config, const std::string& what) {
    const ConfigReader reader(config, what);
    SchedulerConfig c;
    reader.read("use_dynamic_shifting", c.use_dynamic_shifting);
    reader.read("shift", c.shift);
    reader.read("base_shift", c.base_shift);
    reader.read("max_shift", c.max_shift);
    reader.read("base_image_seq_len", c.base_image_seq_len);
    reader.read("max_image_seq_len", c.max_image_seq_len);
    reader.read("time_shift_type", c.time_shift_type);
    for (const char* key : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "invert_sigmas",
                            "shift_terminal", "stochastic_sampling"})
        reader.require_off(key);
    // The pipeline divides t = sigma * num_train_timesteps by 1000: any other
    // count would scale the model's timestep.
    double train_timesteps = 1000;
    reader.read("num_train_timesteps", train_timesteps);
    require(train_timesteps == 1000, SVDQ_ERROR_UNSUPPORTED,
            reader.where("num_train_timesteps") + " = " + value_text(train_timesteps) + " is not supported (only 1000)");

    require(c.shift > 0.0, SVDQ_ERROR_FORMAT, reader.where("shift") + " must be above 0 (got " + value_text(c.shift) + ")");
    if (c.use_dynamic_shifting)
        require(c.base_image_seq_len != c.max_image_seq_len, SVDQ_ERROR_FORMAT,
                what + ": base_image_seq_len and max_image_seq_len are both " + value_text(c.base_image_seq_len) +
                    ", so the dynamic shift's line is undefined");
    return c;
}

SchedulerConfig parse_scheduler_config(std::string_view json_text, const std::string& what) {
    json config;
    try {
        config = json::parse(json_text.begin(), json_text.end());
    } catch (const json::exception& e) {
        fail(SVDQ_ERROR_FORMAT, what + " is not valid JSON (" + e.what() + ")");
    }
    return scheduler_config_from_json(config, what);
}

}  // namespace svdq

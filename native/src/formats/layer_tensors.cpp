#include "formats/layer_tensors.h"

#include <algorithm>

#include "core/error.h"
#include "core/tensor.h"

namespace svdq {

const TensorEntry& LayerTensors::required(const std::string& suffix) const {
    const TensorEntry* t = optional(suffix);
    if (t == nullptr)
        fail(SVDQ_ERROR_FORMAT, file_.path() + ": tensor '" + name(suffix) + "' is missing (the " + kind_ + " '" +
                                    prefix_ + "' needs it)");
    return *t;
}

void LayerTensors::expect_shape(const TensorEntry& t, const std::vector<int64_t>& shape) const {
    if (t.shape != shape)
        fail_tensor(t, "has shape " + t.shape_string() + " but the " + kind_ + " '" + prefix_ + "' needs " + shape_string(shape));
}

void LayerTensors::expect_dtype(const TensorEntry& t, std::initializer_list<int32_t> dtypes) const {
    if (std::find(dtypes.begin(), dtypes.end(), t.dtype) != dtypes.end()) return;
    std::string allowed;
    for (int32_t d : dtypes) allowed += (allowed.empty() ? "" : ", ") + std::string(dtype_name(d));
    fail(SVDQ_ERROR_DTYPE, file_.describe(t) + ": dtype " + dtype_name(t.dtype) + " where the " + kind_ + " '" + prefix_ +
                               "' needs " + allowed);
}

void LayerTensors::fail_tensor(const TensorEntry& t, const std::string& what) const {
    fail(SVDQ_ERROR_FORMAT, file_.describe(t) + ": " + what);
}

}  // namespace svdq

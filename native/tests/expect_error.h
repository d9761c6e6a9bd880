// Expects f() to throw svdq::Error with `status` and a message containing `part`.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace svdq::test {

template <typename F>
void expect_error(svdq_status status, const std::string& part, F&& f) {
    try {
        f();
        ADD_FAILURE() << "no error, expected '" << part << "'";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
}

}  // namespace svdq::test

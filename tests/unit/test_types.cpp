#include <gtest/gtest.h>

#include <climits>

#include "prism/types.hpp"

using prism::narrow;

TEST(Narrow, KeepsValuesThatFit) {
    EXPECT_EQ(narrow<int>(std::int64_t{INT_MAX}, "x"), INT_MAX);
    EXPECT_EQ(narrow<int>(std::int64_t{INT_MIN}, "x"), INT_MIN);
    EXPECT_EQ(narrow<int>(std::int64_t{0}, "x"), 0);
}

TEST(Narrow, ThrowsWithTheQuantityNamed) {
    try {
        narrow<int>(std::int64_t{INT_MAX} + 1, "local rows for dgemm");
        FAIL() << "no exception";
    } catch (const prism::Error &e) {
        EXPECT_NE(std::string(e.what()).find("local rows for dgemm = 2147483648"), std::string::npos)
            << e.what();
        EXPECT_FALSE(e.collective());
    }
    EXPECT_THROW(narrow<unsigned>(std::int64_t{-1}, "x"), prism::Error);
    EXPECT_THROW(narrow<int>(std::int64_t{INT_MIN} - 1, "x"), prism::Error);
}

TEST(Check, MessageCarriesSourcePosition) {
    try {
        PRISM_CHECK(1 + 1 == 3, "arithmetic is broken");
        FAIL() << "no exception";
    } catch (const prism::Error &e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind("arithmetic is broken [", 0), 0u) << what;
        EXPECT_NE(what.find("test_types.cpp:"), std::string::npos) << what;
    }
}

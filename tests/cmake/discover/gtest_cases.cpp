#include "shm_case.hpp"

#include <gtest/gtest.h>

TEST(Segments, LeaksOne) { EXPECT_TRUE(leak_shm_segment()); }

TEST(Segments, LeavesNothing) { EXPECT_EQ(1 + 1, 2); }

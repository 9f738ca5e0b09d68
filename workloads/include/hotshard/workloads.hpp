// hotshard/workloads.hpp — the same as <hotshard/workloads/workloads.hpp>.
#pragma once

#include <hotshard/workloads/workloads.hpp>

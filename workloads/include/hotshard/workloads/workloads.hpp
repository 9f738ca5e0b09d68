// hotshard/workloads/workloads.hpp — everything of hotshard::workloads in one include.
#pragma once

#include <hotshard/workloads/operation.hpp>
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/trace.hpp>
#include <hotshard/workloads/trace_stats.hpp>
#include <hotshard/workloads/viral.hpp>
#include <hotshard/workloads/zipf.hpp>

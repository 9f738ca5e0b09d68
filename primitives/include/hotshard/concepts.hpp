// hotshard/concepts.hpp — every family's concept in one include.
//
// Each family keeps its concepts in hotshard/concepts/<family>.hpp, next to the
// contract they name; this header only gathers them for the harness and for
// users who write their own implementation against a family. Every family's
// concepts live in one namespace, hotshard::concepts (issue 16); the result
// type hotshard::heavy_hitter stays in hotshard:
//   counter, keyed_counter                     (concepts/counter.hpp)
//   frequency_sketch, heavy_hitter_tracker     (concepts/frequency_sketch.hpp)
//   single_flight_table, read_through_cache    (concepts/single_flight.hpp)
//   bounded_mpmc_queue, closable_blocking_queue (concepts/bounded_queue.hpp)
// A concept only fixes the shape of the operations; each implementation's
// header states its progress guarantee and memory ordering.
#pragma once

#include <hotshard/concepts/bounded_queue.hpp>
#include <hotshard/concepts/counter.hpp>
#include <hotshard/concepts/frequency_sketch.hpp>
#include <hotshard/concepts/single_flight.hpp>

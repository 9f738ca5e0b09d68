package main

// runWorkers: the measured loop, the same shape as
// harness/include/hotshard/harness/runner.hpp in duration mode: each
// goroutine builds its op (keys already loaded; untimed), warms up untimed
// for 10% of the duration (at most 0.5 s), picks its latency sampling period
// from the warm-up's ns/op (the power of two, 1..4096, that keeps two clock
// reads per sample under ~1% of an op), meets the others at a barrier (the
// clock starts when the last arrives), then runs one timed op and period-1
// untimed ones per block, looking at the stop flag every >= 64 ops, until the
// controller raises it. Counts and samples stay in each goroutine's own slot
// until all have stopped.

import (
	"sync"
	"sync/atomic"
	"time"
)

const maxSamples = 1 << 16 // per goroutine, a ring: the latest are kept

func samplePeriod(opNs float64) uint64 {
	if !(opNs > 0) {
		return 64
	}
	t0 := time.Now()
	for k := 0; k < 2000; k++ {
		_ = time.Now()
	}
	clockNs := float64(time.Since(t0).Nanoseconds()) / 2001
	want := (2*clockNs + 2) / (0.01 * opNs)
	p := uint64(1)
	for p < 4096 && float64(p) < want {
		p <<= 1
	}
	return p
}

func runWorkers(threads int, duration float64, makeOp func(t int) func(i uint64, n int)) measurement {
	type slot struct {
		measured, calls uint64
		end             time.Time
		ring            []int64
		taken           uint64
	}
	slots := make([]slot, threads)
	var stop atomic.Bool // carries only "stop now"; results travel by wg.Wait()
	var ready, done sync.WaitGroup
	startGate := make(chan struct{})
	ready.Add(threads)
	done.Add(threads)
	warmup := time.Duration(1e9 * minf(0.5, 0.1*duration))
	for t := 0; t < threads; t++ {
		go func(t int) {
			defer done.Done()
			s := &slots[t]
			s.ring = make([]int64, maxSamples)
			op := makeOp(t)
			i := uint64(0)
			w0 := time.Now()
			for time.Since(w0) < warmup {
				op(i, 64)
				i += 64
			}
			period := uint64(64)
			if i > 0 {
				period = samplePeriod(float64(time.Since(w0).Nanoseconds()) / float64(i))
			}
			blocks := (64 + period - 1) / period
			ready.Done()
			<-startGate
			n := uint64(0)
			for !stop.Load() {
				for b := uint64(0); b < blocks; b++ {
					t0 := time.Now()
					op(i, 1)
					s.ring[s.taken&(maxSamples-1)] = int64(time.Since(t0))
					s.taken++
					if period > 1 {
						op(i+1, int(period-1))
					}
					i += period
				}
				n += blocks * period
			}
			s.end = time.Now()
			s.measured, s.calls = n, i
		}(t)
	}
	ready.Wait()
	start := time.Now()
	close(startGate)
	time.Sleep(time.Duration(duration * 1e9))
	stop.Store(true)
	done.Wait()
	var ops, calls uint64
	var samples []int64
	last := start
	for _, s := range slots {
		ops, calls = ops+s.measured, calls+s.calls
		k := s.taken
		if k > maxSamples {
			k = maxSamples
		}
		samples = append(samples, s.ring[:k]...)
		if s.end.After(last) {
			last = s.end
		}
	}
	return newMeasurement(ops, calls, last.Sub(start).Seconds(), samples)
}

func minf(a, b float64) float64 {
	if a < b {
		return a
	}
	return b
}

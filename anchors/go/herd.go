package main

// Scenario `herd` (harness/scenarios/herd.cpp) with Go's
// golang.org/x/sync/singleflight (go_singleflight) and groupcache's
// singleflight (groupcache_singleflight).
//
// herd:keys=K,waves=W — T goroutines, W waves: in each wave all meet at a
// barrier, then request the wave's K fresh keys (slot+1) in the same order;
// the loader sleeps loader_us and fails with probability fail_rate, decided
// per wave and key from the seed exactly as the C++ backend decides it.
// Invariant: one load per flight — backend_calls == W*K; otherwise the run fails.
// Any other workload (zipf:...) — every op is a Do on the trace's next key
// (keys formatted as strings before the clock starts: both tables key by
// string); loader_us = 0 measures the table itself. Invariant: every call
// returns its key's value (or the loader's error).

import (
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	groupcache "github.com/golang/groupcache/singleflight"
	xsync "golang.org/x/sync/singleflight"
)

// flightGroup is the common shape of both tables (x/sync's third result,
// "shared", is dropped: it is true for the leader too, so waiters are counted
// by whether the caller's own function ran).
type flightGroup interface {
	Do(key string, fn func() (interface{}, error)) (interface{}, error)
}

type xsyncGroup struct{ g xsync.Group }

func (x *xsyncGroup) Do(key string, fn func() (interface{}, error)) (interface{}, error) {
	v, err, _ := x.g.Do(key, fn)
	return v, err
}

func newGroup(impl string) flightGroup {
	switch impl {
	case "go_singleflight":
		return &xsyncGroup{}
	case "groupcache_singleflight":
		return &groupcache.Group{}
	}
	return nil
}

var errBackend = errors.New("backend failure")

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func seededHash(h, seed uint64) uint64 { return mix64(h ^ mix64(seed+0x9e3779b97f4a7c15)) }

// backend mirrors scenarios/single_flight_backend.hpp's: counts calls, sleeps, fails deterministically.
// Like the C++ backend, it counts per calling goroutine, each count on its own
// cache line and written only by that goroutine (a loader runs in the goroutine
// that called Do), summed after the run: counting adds no shared write (one
// shared atomic counter made Go's loader pay a contended RMW the C++ side does not).
type backend struct {
	latency  time.Duration
	failRate float64
	seed     uint64
	calls    []paddedCount
}

type paddedCount struct {
	n uint64
	_ [120]byte // 128-byte stride: no false sharing between goroutines' counts (adjacent-line prefetch too)
}

func newBackend(latency time.Duration, failRate float64, seed uint64, threads int) *backend {
	return &backend{latency: latency, failRate: failRate, seed: seed, calls: make([]paddedCount, threads)}
}

// totalCalls: after every goroutine has finished (wg.Wait orders it).
func (b *backend) totalCalls() uint64 {
	var n uint64
	for i := range b.calls {
		n += b.calls[i].n
	}
	return n
}

func (b *backend) fails(round, key uint64) bool {
	if b.failRate <= 0 {
		return false
	}
	h := seededHash(mix64(key)^round, b.seed)
	return float64(h>>11)*math.Ldexp(1, -53) < b.failRate
}

func (b *backend) load(t int, round, key uint64) (interface{}, error) {
	b.calls[t].n++
	if b.latency > 0 {
		time.Sleep(b.latency)
	}
	if b.fails(round, key) {
		return nil, errBackend
	}
	return key*2 + 1, nil
}

type invariantError struct{ msg string }

func (e *invariantError) Error() string { return e.msg }

type herdKnobs struct {
	loaderUS float64
	failRate float64
}

func runStream(impl string, threads int, keys [][]uint64, duration float64, kn herdKnobs) (measurement, object, error) {
	g := newGroup(impl)
	be := newBackend(time.Duration(kn.loaderUS*1000), kn.failRate, 1, threads)
	type counts struct {
		waiters, errs, wrong uint64
		_                    [40]byte // own cache line
	}
	c := make([]counts, threads)
	m := runWorkers(threads, duration, func(t int) func(i uint64, n int) {
		ks := keys[t]
		names := make([]string, len(ks))
		for i, k := range ks {
			names[i] = strconv.FormatUint(k, 10)
		}
		mask := uint64(len(ks) - 1)
		s := &c[t]
		return func(i uint64, n int) {
			for j := uint64(0); j < uint64(n); j++ {
				k := (i + j) & mask
				key := ks[k]
				ran := false
				v, err := g.Do(names[k], func() (interface{}, error) {
					ran = true
					return be.load(t, 0, key)
				})
				if !ran {
					s.waiters++
				}
				if err != nil {
					s.errs++
				} else if v.(uint64) != key*2+1 {
					s.wrong++
				}
			}
		}
	})
	var waiters, errs, wrong uint64
	for _, x := range c {
		waiters, errs, wrong = waiters+x.waiters, errs+x.errs, wrong+x.wrong
	}
	calls := be.totalCalls()
	if wrong > 0 || calls > m.totalCalls {
		return m, nil, &invariantError{"herd/" + impl + ": " + strconv.FormatUint(wrong, 10) +
			" calls returned another key's value, " + strconv.FormatUint(calls, 10) + " loads for " +
			strconv.FormatUint(m.totalCalls, 10) + " calls"}
	}
	total := math.Max(1, float64(m.totalCalls))
	return m, object{"waves": 0, "waiters": waiters, "backend_calls": calls, "calls_per_op": float64(calls) / total,
		"timeouts": 0, "errors": errs, "loader_us": int64(kn.loaderUS), "fail_rate": kn.failRate}, nil
}

// cyclicBarrier releases its n parties together; onLast runs once per cycle,
// on the last arriver, before anyone is released.
type cyclicBarrier struct {
	mu     sync.Mutex
	n, in  int
	gen    chan struct{}
	onLast func()
}

func newBarrier(n int, onLast func()) *cyclicBarrier {
	return &cyclicBarrier{n: n, gen: make(chan struct{}), onLast: onLast}
}

func (b *cyclicBarrier) wait() {
	b.mu.Lock()
	if b.in++; b.in == b.n {
		b.onLast()
		close(b.gen)
		b.gen, b.in = make(chan struct{}), 0
		b.mu.Unlock()
		return
	}
	ch := b.gen
	b.mu.Unlock()
	<-ch
}

func runWaves(impl string, threads int, keysPerWave, waves int, kn herdKnobs) (measurement, object, error) {
	g := newGroup(impl)
	be := newBackend(time.Duration(kn.loaderUS*1000), kn.failRate, 1, threads)
	published := make([]atomic.Int64, waves*keysPerWave) // when each key's result came out
	type slot struct {
		latency, wake               []int64
		calls, waiters, errs, wrong uint64
	}
	slots := make([]slot, threads)
	var start, end time.Time
	bar := newBarrier(threads, func() {
		if start.IsZero() {
			start = time.Now()
		}
	})
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			s := &slots[t]
			for w := 0; w < waves; w++ {
				bar.wait()
				for j := 0; j < keysPerWave; j++ {
					at := w*keysPerWave + j
					key := uint64(at + 1) // fresh every wave: the herd's keys are missing
					ran := false
					t0 := time.Now()
					v, err := g.Do(strconv.FormatUint(key, 10), func() (interface{}, error) {
						ran = true
						defer func() { published[at].Store(time.Now().UnixNano()) }()
						return be.load(t, uint64(w), key)
					})
					t1 := time.Now()
					s.latency = append(s.latency, int64(t1.Sub(t0)))
					s.calls++
					if err != nil {
						s.errs++
					} else if v.(uint64) != key*2+1 {
						s.wrong++
					}
					if !ran {
						s.waiters++
						if err == nil {
							if d := t1.UnixNano() - published[at].Load(); d > 0 {
								s.wake = append(s.wake, d)
							} else {
								s.wake = append(s.wake, 0)
							}
						}
					}
				}
			}
			bar.wait()
			if t == 0 {
				end = time.Now()
			}
		}(t)
	}
	wg.Wait()
	var lat, wake []int64
	var calls, waiters, errs, wrong uint64
	for _, s := range slots {
		lat, wake = append(lat, s.latency...), append(wake, s.wake...)
		calls, waiters, errs, wrong = calls+s.calls, waiters+s.waiters, errs+s.errs, wrong+s.wrong
	}
	m := newMeasurement(calls, calls, end.Sub(start).Seconds(), lat)
	wk := newMeasurement(0, 0, 0, wake)
	loads := be.totalCalls()
	flights := uint64(waves * keysPerWave)
	metrics := object{"waves": waves, "keys": keysPerWave, "waiters": waiters, "backend_calls": loads,
		"calls_per_wave": float64(loads) / float64(flights), "wake_p50_ns": wk.samples.percentile(0.5),
		"wake_p99_ns": wk.samples.percentile(0.99), "wake_max_ns": wk.maxLatency, "timeouts": 0, "errors": errs,
		"loader_us": int64(kn.loaderUS), "fail_rate": kn.failRate}
	if loads != flights || wrong > 0 {
		return m, metrics, &invariantError{"herd/" + impl + ": " + strconv.FormatUint(loads, 10) + " loads for " +
			strconv.FormatUint(flights, 10) + " flights (one load per flight expected), " +
			strconv.FormatUint(wrong, 10) + " wrong values"}
	}
	return m, metrics, nil
}

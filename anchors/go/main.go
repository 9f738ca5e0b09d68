// Command anchors-go is hotshard's Go reference driver: the herd scenario
// (Zipf keys and synchronized waves) with golang.org/x/sync/singleflight and
// groupcache's singleflight, on the key streams of the C++ suite (binary
// traces written by `hotshard-bench trace gen`), written as hotshard.results/1.
//
//	anchors-go --list-traces [--quick|--full|--smoke]
//	    prints SPEC <tab> THREADS <tab> RECORDS <tab> FILE per trace the plan
//	    reads (seed 1, the C++ runs' repetition-0 seed)
//	anchors-go --traces DIR --out FILE [--quick|--full|--smoke]
//	    [--duration S] [--repetitions R] [--git SHA]
//
// Goroutines stand for the C++ threads, on GOMAXPROCS = the machine's cores
// (Go's default). Repetitions are interleaved: rep 0 of every (step,
// threads, impl), then rep 1, ... Exit: 0 ok; 1 an invariant failed (the
// JSON is still written, with "errors"); 2 bad arguments or traces.
package main

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

type step struct {
	workload    string // zipf:... or herd:keys=K,waves=W
	threads     []int
	keys, waves int // herd waves only
	knobs       map[string]string
	seconds     float64
}

var impls = []string{"go_singleflight", "groupcache_singleflight"}

// The C++ herd suite plan (scenarios/herd.cpp).
func plan(mode string) []step {
	zipf := "zipf:n=100000,s=0.99"
	instant := map[string]string{"loader_us": "0"}
	slow := map[string]string{"loader_us": "50000"}
	failing := map[string]string{"loader_us": "50000", "fail_rate": "0.5"}
	switch mode {
	case "smoke":
		return []step{
			{workload: zipf, threads: []int{2}, knobs: instant, seconds: 0.05},
			{workload: "herd:keys=2,waves=2", threads: []int{8}, keys: 2, waves: 2, knobs: slow},
		}
	case "full":
		return []step{
			{workload: "herd:keys=1,waves=20", threads: []int{256, 1024}, keys: 1, waves: 20, knobs: slow},
			{workload: "herd:keys=1,waves=20", threads: []int{256, 1024}, keys: 1, waves: 20, knobs: failing},
			{workload: "herd:keys=8,waves=10", threads: []int{64}, keys: 8, waves: 10, knobs: slow},
			{workload: zipf, threads: []int{1, 2, 4, 16, 64}, knobs: instant, seconds: 1},
		}
	}
	return []step{
		{workload: "herd:keys=1,waves=5", threads: []int{256}, keys: 1, waves: 5, knobs: slow},
		{workload: "herd:keys=1,waves=5", threads: []int{256}, keys: 1, waves: 5, knobs: failing},
		{workload: zipf, threads: []int{2, 64}, knobs: instant, seconds: 0.3},
	}
}

// keysPerThread: the C++ herd stream pre-generates 65536 keys per thread.
func keysPerThread(st step, smoke bool) int {
	if st.waves > 0 {
		return 0
	}
	if smoke {
		return 1 << 12
	}
	return 1 << 16
}

var nonAlnum = regexp.MustCompile(`[^A-Za-z0-9]+`)

func traceFile(spec string, threads, perThread int) string {
	return fmt.Sprintf("%s-t%d-k%d.trace", nonAlnum.ReplaceAllString(spec, "_"), threads, perThread)
}

func usage(msg string) int {
	fmt.Fprintln(os.Stderr, "anchors-go: error: "+msg)
	return 2
}

func main() { os.Exit(drive(os.Args[1:])) }

func drive(args []string) int {
	mode, traces, out, git := "quick", "", "", "unknown"
	duration, repetitions, list := -1.0, -1, false
	for a := 0; a < len(args); a++ {
		f := args[a]
		switch f {
		case "--quick", "--full", "--smoke":
			mode = f[2:]
		case "--list-traces":
			list = true
		case "--traces", "--out", "--git", "--duration", "--repetitions":
			if a+1 >= len(args) {
				return usage(f + ": a value is required")
			}
			a++
			v := args[a]
			switch f {
			case "--traces":
				traces = v
			case "--out":
				out = v
			case "--git":
				git = v
			case "--duration":
				d, err := strconv.ParseFloat(v, 64)
				if err != nil || !(d > 0) {
					return usage("--duration: '" + v + "' is not a number > 0")
				}
				duration = d
			case "--repetitions":
				r, err := strconv.Atoi(v)
				if err != nil || r < 1 {
					return usage("--repetitions: '" + v + "' is not an integer >= 1")
				}
				repetitions = r
			}
		default:
			return usage("unknown argument '" + f + "' (accepted: --list-traces, --traces DIR, --out FILE, " +
				"--quick, --full, --smoke, --duration S, --repetitions R, --git SHA)")
		}
	}
	smoke := mode == "smoke"
	steps := plan(mode)
	if list {
		seen := map[string]bool{}
		for _, st := range steps {
			for _, t := range st.threads {
				if k := keysPerThread(st, smoke); k > 0 {
					line := fmt.Sprintf("%s\t%d\t%d\t%s", st.workload, t, k*t, traceFile(st.workload, t, k))
					if !seen[line] {
						seen[line] = true
						fmt.Println(line)
					}
				}
			}
		}
		return 0
	}
	if traces == "" {
		return usage("--traces DIR is required (or --list-traces)")
	}
	if out == "" {
		return usage("--out FILE is required")
	}
	if repetitions < 0 {
		repetitions = map[string]int{"smoke": 1, "quick": 3, "full": 5}[mode]
	}
	started := now()
	keys := map[string][][]uint64{} // every trace loaded before any clock starts
	for _, st := range steps {
		for _, t := range st.threads {
			if k := keysPerThread(st, smoke); k > 0 {
				name := traceFile(st.workload, t, k)
				if keys[name] == nil {
					ks, err := loadTrace(traces+"/"+name, t, k)
					if err != nil {
						return usage(err.Error())
					}
					keys[name] = ks
				}
			}
		}
	}
	var records, errs []object
	for rep := 0; rep < repetitions; rep++ {
		for _, st := range steps {
			kn := herdKnobs{}
			kn.loaderUS, _ = strconv.ParseFloat(st.knobs["loader_us"], 64)
			if fr, ok := st.knobs["fail_rate"]; ok {
				kn.failRate, _ = strconv.ParseFloat(fr, 64)
			}
			for _, t := range st.threads {
				for _, impl := range impls {
					var m measurement
					var metrics object
					var err error
					if st.waves > 0 {
						m, metrics, err = runWaves(impl, t, st.keys, st.waves, kn)
					} else {
						seconds := st.seconds
						if duration > 0 {
							seconds = duration
						}
						m, metrics, err = runStream(impl, t, keys[traceFile(st.workload, t, keysPerThread(st, smoke))], seconds, kn)
					}
					what := fmt.Sprintf("herd/%s threads=%d %s", impl, t, st.workload)
					if err != nil {
						fmt.Fprintf(os.Stderr, "anchors-go: FAILED %s: %v\n", what, err)
						errs = append(errs, object{"scenario": "herd", "message": what + ": " + err.Error()})
						continue
					}
					records = append(records, record("herd", impl, t, st.workload, rep, st.knobs, m, metrics))
					fmt.Fprintf(os.Stderr, "anchors-go: %s rep=%d: %.3g ops/s\n", what, rep, float64(m.ops)/m.seconds)
				}
			}
		}
	}
	config := object{"command_line": "anchors-go " + strings.Join(args, " "), "driver": "anchors/go", "mode": mode,
		"repetitions": repetitions, "seed": 1, "gomaxprocs": runtime.GOMAXPROCS(0), "traces": traces}
	if duration > 0 {
		config["duration_seconds"] = duration
	}
	if err := writeDocument(out, git, started, config, records, errs); err != nil {
		fmt.Fprintln(os.Stderr, "anchors-go: cannot write "+out+": "+err.Error())
		return 1
	}
	if len(errs) > 0 {
		return 1
	}
	return 0
}

package main

// hotshard.results/1 documents (harness/src/results.cpp). encoding/json
// writes map keys sorted, as nlohmann::json does.

import (
	"bufio"
	"encoding/json"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

type object = map[string]interface{}

type latencies []int64 // sorted ns samples

func (l latencies) percentile(q float64) int64 {
	if len(l) == 0 {
		return 0
	}
	k := int(float64(len(l))*q+0.999999999) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(l) {
		k = len(l) - 1
	}
	return l[k]
}

type measurement struct {
	ops        uint64 // measured, all workers
	totalCalls uint64 // measured + warm-up
	seconds    float64
	samples    latencies
	maxLatency int64
}

func newMeasurement(ops, total uint64, seconds float64, samples []int64) measurement {
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	m := measurement{ops: ops, totalCalls: total, seconds: seconds, samples: samples}
	if len(samples) > 0 {
		m.maxLatency = samples[len(samples)-1]
	}
	return m
}

func record(scenario, impl string, threads int, workload string, rep int, knobs map[string]string,
	m measurement, metrics object) object {
	ops := 0.0
	if m.seconds > 0 {
		ops = float64(m.ops) / m.seconds
	}
	r := object{
		"scenario": scenario, "impl": impl, "threads": threads, "workload": workload, "repetition": rep,
		"ops": m.ops, "seconds": m.seconds, "ops_per_sec": ops,
		"latency_ns": object{"p50": m.samples.percentile(0.50), "p90": m.samples.percentile(0.90),
			"p99": m.samples.percentile(0.99), "p999": m.samples.percentile(0.999), "max": m.maxLatency},
		"metrics": metrics,
	}
	if len(knobs) > 0 {
		r["knobs"] = knobs
	}
	return r
}

func writeDocument(path, git, started string, config object, records, errs []object) error {
	doc := object{
		"schema": "hotshard.results/1",
		"tool": object{"name": "hotshard-anchors-go", "version": "0.1.0", "git": git,
			"build": "go build, GOPATH mode over /usr/share/gocode (golang.org/x/sync, github.com/golang/groupcache)"},
		"machine": object{"cpu": cpuName(), "cores": runtime.NumCPU(), "os": osName(),
			"compiler": runtime.Version() + " " + runtime.Compiler, "allocator": "Go runtime (GC)"},
		"started": started,
		"config":  config,
		"results": records,
	}
	if records == nil {
		doc["results"] = []object{}
	}
	if len(errs) > 0 {
		doc["errors"] = errs
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05Z") }

func cpuName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if line := s.Text(); strings.HasPrefix(line, "model name") {
				return strings.TrimSpace(line[strings.Index(line, ":")+1:])
			}
		}
	}
	return runtime.GOARCH
}

func osName() string {
	pretty := runtime.GOOS
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "PRETTY_NAME=") {
				pretty = strings.Trim(line[len("PRETTY_NAME="):], "\"")
			}
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		str := func(a [65]int8) string {
			b := make([]byte, 0, len(a))
			for _, c := range a {
				if c == 0 {
					break
				}
				b = append(b, byte(c))
			}
			return string(b)
		}
		return pretty + " (" + str(u.Sysname) + " " + str(u.Release) + " " + str(u.Machine) + ")"
	}
	return pretty
}

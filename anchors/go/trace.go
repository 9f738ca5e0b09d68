package main

// The suite's binary trace (workloads/include/hotshard/workloads/trace.hpp):
// a 20-byte header — "HSTRACE\0", u32 version 1, u64 record count, all
// little-endian — then count records of 9 bytes: u64 key, u8 op (0..3).
// `hotshard-bench trace gen SPEC --threads T` interleaves the thread streams:
// record i*T + t is thread t's i-th key, the key generate_keys() hands thread
// t of a T-thread C++ run with the same spec and seed.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

const (
	traceHeaderBytes = 20
	traceRecordBytes = 9
)

type traceError struct{ msg string }

func (e *traceError) Error() string { return e.msg }

// loadTrace returns keys[t][i] = the key of record i*threads + t, i < perThread.
// Every byte it uses is checked; a malformed file is a *traceError naming the
// byte offset.
func loadTrace(path string, threads, perThread int) ([][]uint64, error) {
	all, err := os.ReadFile(path)
	if err != nil {
		return nil, &traceError{fmt.Sprintf("cannot read trace %s: %v (scripts/anchors.sh generates the traces)", path, err)}
	}
	fail := func(offset int64, what string) ([][]uint64, error) {
		return nil, &traceError{fmt.Sprintf("%s: byte offset %d: %s", path, offset, what)}
	}
	if len(all) < traceHeaderBytes {
		return fail(int64(len(all)), "truncated header (20 bytes expected)")
	}
	if !bytes.Equal(all[:8], []byte("HSTRACE\x00")) {
		return fail(0, "bad magic (not a binary hotshard trace)")
	}
	if v := binary.LittleEndian.Uint32(all[8:]); v != 1 {
		return fail(8, fmt.Sprintf("unsupported version %d", v))
	}
	count := binary.LittleEndian.Uint64(all[12:])
	if count > uint64(len(all)) || traceHeaderBytes+count*traceRecordBytes != uint64(len(all)) {
		return fail(12, fmt.Sprintf("the header declares %d records but the file has %d bytes", count, len(all)))
	}
	if count < uint64(threads)*uint64(perThread) {
		return fail(12, fmt.Sprintf("%d records, %d x %d needed", count, threads, perThread))
	}
	keys := make([][]uint64, threads)
	for t := range keys {
		keys[t] = make([]uint64, perThread)
		for i := range keys[t] {
			off := traceHeaderBytes + (i*threads+t)*traceRecordBytes
			if op := all[off+8]; op > 3 {
				return fail(int64(off+8), fmt.Sprintf("invalid op code %d", op))
			}
			keys[t][i] = binary.LittleEndian.Uint64(all[off:])
		}
	}
	return keys, nil
}

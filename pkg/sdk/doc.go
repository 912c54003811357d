// Package sdk writes dlbp MapReduce programs in Go: you supply the per-line map function and the
// per-key reduce (and, optionally, combine) function; the package speaks dlbp's Hadoop Streaming
// contract on standard input and output for you.
//
// One binary serves every role, chosen by its first argument, so a job is one build and one
// upload:
//
//	GOOS=wasip1 GOARCH=wasm go build -o wc.wasm ./wordcount
//	dlbp submit --mapper 'wc.wasm map' --combiner 'wc.wasm combine' --reducer 'wc.wasm reduce' book.txt
//
// # The contract
//
// A map task reads its split's lines on standard input and writes records, `KEY<TAB>VALUE`
// lines, on standard output. dlbp sends each record to partition fnv1a32(KEY) mod R and sorts
// each partition by KEY bytes; a reduce task reads its partition's records and what it writes is
// the job's output, line for line. A combiner, if given, reads some of one map task's records in
// the reducer's format and writes records again; dlbp may run it zero or more times on any record,
// so combining must not change the result (sums, maxima and sets combine; averages do not). A
// record or line may be at most [MaxLine] bytes. The SDK turns all of this into three calls:
//
//   - [Job.Map] is called once per input line, without its '\n'.
//   - [Job.Reduce] is called once per key with a [Values] that streams the key's values: one
//     key's values never need to fit in memory.
//   - [Job.Combine] is like Reduce but emits records.
//
// Keys, values and lines passed to your functions are slices of the SDK's buffers, valid only
// until your function returns (or, for a value, until the next [Values.Next]): copy what you
// keep. This is what lets the SDK read and write without allocating per line or per record.
//
// # The environment
//
// A task learns its place in the job from the environment, which [Input], [InputLine], [Task],
// [Partition], [Reducers], [Attempt], [JobID] and [Param] read. A WebAssembly module sees nothing
// else: no files, no network, no clock worth trusting. Programs must be deterministic, because a
// task may run several times (a retry, a speculative copy) and dlbp keeps one attempt's output:
// every attempt must write the same bytes. Do not let a map's iteration order reach the output
// unsorted.
//
// # Running by hand
//
// The same binary runs natively, outside dlbp, which is the quickest way to test it (LC_ALL=C
// makes sort compare bytes, as dlbp does):
//
//	go build -o wc ./wordcount
//	./wc map < book.txt | LC_ALL=C sort -t "$(printf '\t')" -k1,1 | ./wc reduce
//
// Unset environment variables read as zero values (InputLine as 1), so this works without
// setting any. Tests can call [Run] in-process instead.
//
// # Example
//
// A complete word count, where a word is a run of ASCII letters:
//
//	package main
//
//	import (
//		"strconv"
//
//		"github.com/dlbp/dlbp/pkg/sdk"
//	)
//
//	func main() {
//		sdk.Main(sdk.Job{Map: mapLine, Combine: combine, Reduce: reduce})
//	}
//
//	var one = []byte("1")
//
//	// mapLine emits WORD<TAB>1 for each word of the line.
//	func mapLine(line []byte, out *sdk.Emitter) error {
//		start := -1
//		for i := 0; i <= len(line); i++ {
//			letter := i < len(line) && ('a' <= line[i] && line[i] <= 'z' || 'A' <= line[i] && line[i] <= 'Z')
//			switch {
//			case letter && start < 0:
//				start = i
//			case !letter && start >= 0:
//				if err := out.Emit(line[start:i], one); err != nil {
//					return err
//				}
//				start = -1
//			}
//		}
//		return nil
//	}
//
//	// sum adds up a key's counts.
//	func sum(values *sdk.Values) (int64, error) {
//		var n int64
//		for values.Next() {
//			v, err := strconv.ParseInt(string(values.Value()), 10, 64)
//			if err != nil {
//				return 0, err
//			}
//			n += v
//		}
//		return n, nil
//	}
//
//	// combine replaces a map task's counts of one word by their sum.
//	func combine(word []byte, values *sdk.Values, out *sdk.Emitter) error {
//		n, err := sum(values)
//		if err != nil {
//			return err
//		}
//		return out.Emit(word, strconv.AppendInt(nil, n, 10))
//	}
//
//	// reduce writes `WORD COUNT`.
//	func reduce(word []byte, values *sdk.Values, out *sdk.Writer) error {
//		n, err := sum(values)
//		if err != nil {
//			return err
//		}
//		return out.LineString(string(word) + " " + strconv.FormatInt(n, 10))
//	}
//
// (examples/wordcount in the dlbp repository is the same program with Unicode letters and
// without allocations.)
package sdk

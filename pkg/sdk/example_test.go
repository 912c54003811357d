package sdk_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"github.com/dlbp/dlbp/pkg/sdk"
)

// A job that finds each key's largest value, run in-process as a test would: Run is what Main
// calls with the process's standard input and output.
func ExampleRun() {
	job := sdk.Job{
		Map: func(line []byte, out *sdk.Emitter) error {
			name, score, _ := bytes.Cut(line, []byte(" "))
			return out.Emit(name, score)
		},
		Reduce: func(name []byte, scores *sdk.Values, out *sdk.Writer) error {
			best := -1
			for scores.Next() {
				n, err := strconv.Atoi(string(scores.Value()))
				if err != nil {
					return err
				}
				best = max(best, n)
			}
			return out.LineString(string(name) + " " + strconv.Itoa(best))
		},
	}
	var mapped bytes.Buffer
	if err := sdk.Run(job, "map", strings.NewReader("ann 3\nbob 5\nann 7\n"), &mapped); err != nil {
		panic(err)
	}
	// dlbp would partition and sort mapped by key here; the test input is sorted already.
	sorted := "ann\t3\nann\t7\nbob\t5\n"
	if err := sdk.Run(job, "reduce", strings.NewReader(sorted), os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// ann 7
	// bob 5
}

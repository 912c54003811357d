package sdk

import (
	"os"
	"strconv"
)

// The environment variables dlbp sets for every task. The functions below read them; they are
// listed here for programs that run native tools or want to print them.
const (
	EnvJob         = "DLBP_JOB"        // the job's ID
	EnvTask        = "DLBP_TASK"       // the map task's number, or the reducer's partition
	EnvAttempt     = "DLBP_ATTEMPT"    // which attempt of the task this is
	EnvReducers    = "DLBP_REDUCERS"   // R, the job's number of partitions
	EnvInput       = "DLBP_INPUT"      // map tasks: the document's name, as the user typed it
	EnvInputLine   = "DLBP_INPUT_LINE" // map tasks: the document line number of the split's first line
	EnvPartition   = "DLBP_PARTITION"  // reducers: the partition
	EnvParamPrefix = "DLBP_PARAM_"     // followed by KEY, for each --param KEY=VALUE
)

// JobID returns the job's ID, for messages. Output must not depend on it: a rerun of the same
// job must give the same bytes.
func JobID() string { return os.Getenv(EnvJob) }

// Task returns the task's number: the map task's, counted across the job's splits, or the
// reducer's partition. It is 0 when unset (a program run by hand).
func Task() int { return envInt(EnvTask) }

// Attempt returns which attempt of its task this run is, as dlbp numbers them, for messages.
// Output must not depend on it: every attempt of a task must write the same bytes, since dlbp
// may keep any one of them. It is 0 when unset.
func Attempt() int { return envInt(EnvAttempt) }

// Reducers returns R, the job's number of partitions (--reducers), or 0 when unset.
func Reducers() int { return envInt(EnvReducers) }

// Partition returns, in a reducer, the partition it reduces: the keys k with fnv1a32(k) mod
// Reducers() equal to it. It is 0 when unset.
func Partition() int { return envInt(EnvPartition) }

// Input returns, in a map task, the name of the document its split comes from, exactly as the
// user typed it on the command line ("books/a.txt", "-"), so that output naming documents is
// what the user expects. It is "" when unset.
func Input() string { return os.Getenv(EnvInput) }

// InputLine returns, in a map task, the 1-based line number within its document of the split's
// first line: a document is cut into splits at line boundaries, and this is what makes line
// numbers global. It is 1 when unset or malformed (a whole document run by hand). See
// Emitter.LineNumber for the current line's number.
func InputLine() int64 {
	n, err := strconv.ParseInt(os.Getenv(EnvInputLine), 10, 64)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// Param returns the value of the job's `--param name=VALUE` and whether it was given. The name
// is as the user typed it (case kept).
func Param(name string) (string, bool) { return os.LookupEnv(EnvParamPrefix + name) }

// envInt reads a non-negative integer variable; unset or malformed is 0.
func envInt(name string) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Command garbage is a mapper whose output is awkward but valid: bytes that are not UTF-8, NULs,
// lines without a tab, empty keys, tabs inside values and a last line without '\n'. It writes
// the same for every task, whatever its input (which it reads and ignores). With "cat" it is a
// reducer that copies its input to its output.
package main

import (
	"io"
	"os"
)

// Output is what every map task writes.
const Output = "\xff\xfe\x00key\tvalue\x00\nno tab here\n\tempty key\nk\tv\twith\ttabs\n\n\x80\x81\tlast line without newline"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "cat" {
		io.Copy(os.Stdout, os.Stdin)
		return
	}
	io.Copy(io.Discard, os.Stdin)
	os.Stdout.WriteString(Output)
}

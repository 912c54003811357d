// Command flood writes to its standard output without end.
package main

import "os"

func main() {
	line := []byte("flood flood flood flood flood flood flood flood flood flood flood\n")
	buf := make([]byte, 0, 64<<10)
	for len(buf)+len(line) <= cap(buf) {
		buf = append(buf, line...)
	}
	for {
		os.Stdout.Write(buf) // errors ignored, as careless programs do
	}
}

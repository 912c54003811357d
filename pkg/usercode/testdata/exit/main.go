// Command exit writes N bytes to its standard error and exits with a status:
// exit STATUS N. The bytes are 'a' to 'z' over and over, a newline every 64.
package main

import (
	"bufio"
	"os"
	"strconv"
)

func main() {
	status, _ := strconv.Atoi(os.Args[1])
	n, _ := strconv.Atoi(os.Args[2])
	w := bufio.NewWriter(os.Stderr)
	for i := 0; i < n; i++ {
		c := byte('a' + i%26)
		if i%64 == 63 {
			c = '\n'
		}
		w.WriteByte(c)
	}
	w.Flush()
	os.Exit(status)
}

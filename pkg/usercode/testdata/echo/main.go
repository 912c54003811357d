// Command echo copies its standard input to its standard output. With an argument it prints
// instead its environment ("env"), its arguments ("args"), or its working directory and the
// files in it ("files"), one per line.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "env":
		for _, e := range os.Environ() {
			fmt.Println(e)
		}
	case "args":
		for _, a := range os.Args {
			fmt.Println(a)
		}
	case "files":
		wd, err := os.Getwd()
		check(err)
		fmt.Println(wd)
		entries, err := os.ReadDir(".")
		check(err)
		for _, e := range entries {
			info, err := e.Info()
			check(err)
			data, err := os.ReadFile(e.Name())
			check(err)
			fmt.Printf("%s %v %q\n", e.Name(), info.Mode(), data)
		}
	default:
		_, err := io.Copy(os.Stdout, os.Stdin)
		check(err)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

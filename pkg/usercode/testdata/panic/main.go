// Command panic dereferences a nil pointer: Go's runtime panics and exits with status 2.
package main

import "fmt"

type T struct{ x int }

var p *T

func main() {
	fmt.Println("about to fail")
	fmt.Println(p.x)
}

// Package testprogs holds small programs that the cluster tests run as users' map and reduce
// programs (built as WebAssembly with GOOS=wasip1 GOARCH=wasm, or natively): each directory is
// a command. They misbehave on purpose.
package testprogs

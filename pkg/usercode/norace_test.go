//go:build !race

package usercode

const raceEnabled = false

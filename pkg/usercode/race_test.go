//go:build race

package usercode

// raceEnabled tells the tests that wazero's compiler runs about ten times slower.
const raceEnabled = true

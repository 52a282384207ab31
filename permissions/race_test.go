//go:build race

package permissions_test

const raceEnabled = true

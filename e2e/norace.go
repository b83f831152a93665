//go:build !race

package e2e

// raceEnabled reports whether this binary was built with the race
// detector; Build then builds tandem with it too.
const raceEnabled = false

package libssh

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestWindowDoublesOnLongStalls: the policy's decision, on made-up epochs.
// Short stalls (a busy machine's scheduler on loopback) never grow the
// window, nor does one long stall alone; two epochs in a row that waited
// for an eighth of their time or more double it, up to the cap.
func TestWindowDoublesOnLongStalls(t *testing.T) {
	const epoch = 10 * time.Millisecond
	// run feeds the window epochs that stalled for the given times and
	// returns its target after each.
	run := func(w *recvWindow, stalls ...time.Duration) []int {
		var targets []int
		now := time.Second
		w.epochAt = now
		for _, s := range stalls {
			w.consumed += int64(w.target)
			w.stalled = s
			now += epoch
			w.endEpoch(now)
			targets = append(targets, w.target)
		}
		return targets
	}
	const ms = time.Millisecond
	w := newRecvWindow(0)
	assert.Equal(t, []int{firstWindow, firstWindow, firstWindow, firstWindow},
		run(&w, ms/2, ms, ms, ms), "stalls of a tenth of an epoch")
	w = newRecvWindow(0)
	assert.Equal(t, []int{firstWindow, firstWindow, firstWindow, firstWindow},
		run(&w, 4*ms, ms, 4*ms, 0), "long stalls, never two in a row")
	w = newRecvWindow(0)
	assert.Equal(t, []int{firstWindow, 2 * firstWindow, 2 * firstWindow, 4 * firstWindow},
		run(&w, 3*ms, 2*ms, 5*ms, 5*ms), "two in a row, twice")
	w = newRecvWindow(minMaxWindow)
	assert.Equal(t, []int{firstWindow, 2 * firstWindow, 2 * firstWindow, w.most(), w.most(), w.most()},
		run(&w, 5*ms, 5*ms, 5*ms, 5*ms, 5*ms, 5*ms), "up to the cap")
}

package libssh

import (
	"fmt"
	"sync"
	"time"

	"github.com/golibssh/libssh/lib"
)

// DefaultMaxWindow is the default of [WithMaxWindow]: 16 MiB per channel.
// A window lets a path carry at most window/RTT; this one lets a
// channel's window grow to 12.9 MB, which carries about 550 MB/s (this
// package's speed on one core) over a 20 ms round trip and 220 MB/s over
// 50 ms, and keeps 50 busy channels under 1 GB.
const DefaultMaxWindow = 16 << 20

const (
	// windowBase is libssh 0.10's WINDOWBASE: after a read that leaves
	// the window under windowBase/2, libssh grows it back to windowBase
	// by itself, whatever it holds already.
	windowBase = 1280000
	// firstWindow is where a channel's window starts: libssh's (and C
	// libssh's). Grants ask for at least windowBase beyond what is
	// buffered (see grantCount), so libssh's own regrowth, at
	// windowBase/2 left, never races them.
	firstWindow = windowBase
	// A channel holds at most its window plus 3*windowBase (see
	// recvWindow), so the cap leaves room for firstWindow and that. The
	// protocol counts the window in 32 bits.
	minMaxWindow = 8 << 20
	maxMaxWindow = 1 << 30
)

// windowTuning says whether the libssh in use grows a channel's window to
// the count of a read (libssh 0.10). libssh 0.11 keeps a fixed 2 MiB
// window whatever the count, and counts what it buffered against it, so
// there reads ask for what fits the caller's buffer and nothing more.
var windowTuning = lib.Version(11<<8) == "" // SSH_VERSION_INT(0, 11, 0)

// WithMaxWindow caps what each channel of the session holds of the data
// it receives at bytes (default [DefaultMaxWindow]; at least 8 MiB, at
// most 1 GiB), whatever its reader does, as long as each stream that
// receives data is read ([Cmd] reads both).
//
// The cap bounds the channel's receive window, which is what the server
// may send ahead of the reader. A window starts at libssh's 1.28 MB and
// doubles when it is what limits the channel (as TCP's receive buffer
// grows): when the reader, keeping up, repeatedly used all of it before
// the server heard of more and then waited for at least an eighth of the
// time, while the connection carried little else. It grows to bytes less
// 3.84 MB, which libssh 0.10 may hold on top of the window when the
// reader falls behind. [Channel.SetMaxWindow] changes one channel's cap.
//
// With libssh 0.11 or later the window is libssh's fixed 2 MiB, and this
// option changes nothing.
func WithMaxWindow(bytes int) Option {
	return func(c *config) error {
		if err := checkMaxWindow(bytes); err != nil {
			return err
		}
		c.maxWindow = bytes
		return nil
	}
}

func checkMaxWindow(bytes int) error {
	if bytes < minMaxWindow || bytes > maxMaxWindow {
		return fmt.Errorf("libssh: window cap %d is out of range %d-%d (8 MiB to 1 GiB)", bytes, minMaxWindow, maxMaxWindow)
	}
	return nil
}

// SetMaxWindow sets this channel's cap, as [WithMaxWindow] does for every
// channel of a session; when the window the server knows of is larger than
// the new cap allows, the reader consumes the difference before the next
// grant. It returns an error for a value out of range, an error matching
// [ErrClosed] for a closed channel, or [ErrInCallback] in a callback.
func (ch *Channel) SetMaxWindow(bytes int) error {
	if err := checkMaxWindow(bytes); err != nil {
		return err
	}
	return ch.locked(func(c *chanState) error {
		c.win.setMax(bytes)
		return nil
	})
}

// recvWindow is a channel's receive window policy (libssh 0.10), under the
// session's lock; docs/design.md ("The receive window") tells why.
type recvWindow struct {
	max      int   // the cap
	target   int   // the window a grant asks for
	consumed int64 // bytes read from libssh, both streams
	limit    int64 // lower bound of the offset the server may send up to
	grants   [8]int64
	next     int // the slot in grants for the next grant

	// Stalls: a reader drained the channel (both streams) exactly at a
	// granted limit, so the server had used all the window it knew of,
	// and while it waited the connection carried little else (otherwise
	// the wait was the connection's queue, which a larger window only
	// lengthens). waiting is set at the drained read, with the session's
	// input count and the time then; the next read with data decides, and
	// adds the wait to stalled; a read call clears what an earlier call,
	// which gave up, left set. An epoch ends when target bytes were read
	// since it began; it stalled when its stalls took at least
	// 1/stallShare of its time (a larger window wins back at most that).
	// run counts the last epochs in a row that stalled.
	waiting bool
	waitIn  uint64
	waitAt  time.Duration // when waiting was set (since monoStart)
	epoch   int64         // consumed when the epoch began
	epochAt time.Duration // when the epoch began; 0 before the first data
	stalled time.Duration // this epoch's time in stalls
	run     int

	spill    [2][]byte  // per stream: data taken from libssh, not read yet
	spillBuf [2]*[]byte // what spill points into, from spillPool
}

// spillPool keeps spill buffers between a slow reader's episodes.
var spillPool sync.Pool

// takeSpill returns a buffer from spillPool of at least n bytes.
func takeSpill(n int) *[]byte {
	if p, _ := spillPool.Get().(*[]byte); p != nil && cap(*p) >= n {
		return p
	}
	b := make([]byte, (n+1<<18-1)&^(1<<18-1)) // in steps of 256 KiB: fewer sizes
	return &b
}

// dropSpill forgets the stream's spill and gives its buffer back.
func (w *recvWindow) dropSpill(stream int) {
	if p := w.spillBuf[stream]; p != nil {
		spillPool.Put(p)
	}
	w.spill[stream], w.spillBuf[stream] = nil, nil
}

func newRecvWindow(max int) recvWindow {
	if max == 0 {
		max = DefaultMaxWindow
	}
	return recvWindow{max: max, target: firstWindow}
}

// hasSpill says whether reads have data to return that libssh no longer
// holds.
func (w *recvWindow) hasSpill() bool { return len(w.spill[0]) > 0 || len(w.spill[1]) > 0 }

func (w *recvWindow) setMax(bytes int) {
	w.max = bytes
	if w.target > w.most() {
		w.target = w.most()
	}
}

// most is the largest target.
func (w *recvWindow) most() int { return w.max - 3*windowBase }

// atGrant says whether the offset off is one that a recent grant allowed
// the server to send up to.
func (w *recvWindow) atGrant(off int64) bool {
	for _, g := range w.grants {
		if g == off && off > 0 {
			return true
		}
	}
	return false
}

// readLocked reads the stream into b (len(b) > 0) as
// ssh_channel_read_nonblocking does, with the window policy of
// docs/design.md. It returns the bytes read, 0 when nothing is buffered,
// lib.SSH_EOF or lib.SSH_ERROR.
func (c *chanState) readLocked(b []byte, stream int) int {
	w := &c.win
	if sp := w.spill[stream]; len(sp) > 0 {
		n := copy(b, sp)
		if w.spill[stream] = sp[n:]; n == len(sp) {
			w.dropSpill(stream)
			// Waiters for EOF (PollLoop) look at libssh, which has
			// nothing new to say: wake them.
			c.st.bumpLocked()
		}
		return n
	}
	if !windowTuning {
		n := lib.ChannelReadWindow(c.p, b, stream, 0)
		w.consumed += int64(max(n, 0)) // for the engine dump only
		return n
	}
	avail := lib.ChannelPoll(c.p, stream)
	in := c.st.counter
	if avail <= 0 {
		if avail == 0 && !w.waiting && !in.IsNil() && w.atGrant(w.consumed) && c.streamEmptyLocked(1-stream) {
			w.waiting, w.waitIn, w.waitAt = true, in.InBytes(), monoNow()
		}
		return avail
	}
	if w.waiting {
		// What the connection carried since the drained read: this
		// stream's data, its packets' overhead, and little more.
		w.waiting = false
		if in.InBytes()-w.waitIn <= uint64(2*avail+64<<10) {
			w.stalled += monoNow() - w.waitAt
		}
	}
	if w.epochAt == 0 {
		w.epochAt = monoNow()
	}
	w.limit = max(w.limit, w.consumed+int64(avail))
	count := 0
	switch {
	case avail <= len(b):
		// The reader keeps up: grant once a quarter of the window
		// was used.
		if w.limit-w.consumed-int64(avail) > int64(w.target-w.target/4) {
			break
		}
		w.endEpoch(monoNow())
		count = grantCount(w.target, avail)
		if g := w.consumed + int64(count); g > w.limit {
			w.limit = g
			w.grants[w.next] = g
			w.next = (w.next + 1) % len(w.grants)
		}
	case avail-len(b) > w.target+windowBase:
		// The reader fell behind: take everything, so that libssh
		// regrows its window once, not at every read. The window is not
		// what limits the channel now: no doubling until two more
		// epochs with stalls.
		p := takeSpill(avail)
		n := lib.ChannelReadWindow(c.p, (*p)[:avail], stream, 0)
		if n <= 0 {
			spillPool.Put(p)
			return n
		}
		w.consumed += int64(n)
		w.run, w.stalled, w.waiting, w.epoch, w.epochAt = 0, 0, false, w.consumed, monoNow()
		m := copy(b, (*p)[:n])
		if m == n { // all of it fitted after all: nothing to keep
			spillPool.Put(p)
			return m
		}
		w.spill[stream], w.spillBuf[stream] = (*p)[m:n], p
		return m
	}
	n := lib.ChannelReadWindow(c.p, b, stream, uint32(count))
	if n > 0 {
		w.consumed += int64(n)
	}
	return n
}

// grantCount is the count of a read that grants the window target while
// avail bytes are buffered. libssh 0.10 never grows a window to less than
// windowBase (grow_window), and regrows one left under windowBase/2 after
// a read. With a count under avail+windowBase libssh would grant more than
// asked: the limit the policy records would not be the server's, and the
// stall detection would never find the server waiting at it.
func grantCount(target, avail int) int { return max(target, avail+windowBase) }

// streamEmptyLocked says whether the stream holds nothing, in libssh or in the
// spill: a stall needs both streams drained, otherwise the wait is the
// other stream's reader's, not the server's.
func (c *chanState) streamEmptyLocked(stream int) bool {
	return len(c.win.spill[stream]) == 0 && lib.ChannelPoll(c.p, stream) == 0
}

// stallShare: an epoch stalled when its stalls took at least 1/stallShare
// of its time. On loopback a busy machine's scheduler makes the server
// miss its window now and then: most epochs stall for under 5 % of their
// time, one in 40 or so for more, and hardly ever two in a row (see
// docs/design.md); on a 10 ms path the first epochs stall for 15-50 %.
const stallShare = 8

// endEpoch is called at each grant, at time now: it ends the epoch once
// target bytes were read in it, and doubles target after two epochs in a
// row that stalled.
func (w *recvWindow) endEpoch(now time.Duration) {
	if w.consumed-w.epoch < int64(w.target) {
		return
	}
	if w.stalled > 0 && w.stalled*stallShare >= now-w.epochAt {
		w.run++
	} else {
		w.run = 0
	}
	w.stalled, w.epoch, w.epochAt = 0, w.consumed, now
	if w.run >= 2 {
		w.target = min(2*w.target, w.most())
		w.run = 0
	}
}

// monoStart is the origin of monoNow.
var monoStart = time.Now()

// monoNow is the monotonic time since the package started, never 0.
func monoNow() time.Duration { return time.Since(monoStart) + 1 }

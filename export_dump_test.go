package libssh

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golibssh/libssh/lib"
)

// EngineDump describes every live session's engine, for a test that saw no
// progress: where the bytes are (the kernel's queues, libssh's counters and
// buffers, each channel's bytes sent and read) and who waits. A session
// whose lock stays busy for a second is named as such. Reading a channel's
// buffered count may let libssh read input.
func EngineDump() string {
	var b strings.Builder
	eachSession(func(st *sessionState) { st.describe(&b, st.dumpLocked) })
	return b.String()
}

// ChannelsLeft describes the channels every live session still tracks:
// their state, and where each was made when a leak hook is set.
func ChannelsLeft() string {
	var b strings.Builder
	eachSession(func(st *sessionState) { st.describe(&b, st.channelsLocked) })
	return b.String()
}

// SessionDump is EngineDump of s alone.
func SessionDump(s *Session) string {
	var b strings.Builder
	if s != nil && s.st != nil {
		s.st.describe(&b, s.st.dumpLocked)
	}
	return b.String()
}

// eachSession calls f for every live session.
func eachSession(f func(st *sessionState)) {
	wrapped.Range(func(_, v any) bool {
		if st, ok := v.(*sessionState); ok {
			f(st)
		}
		return true
	})
}

// describe writes a line that names st and goes on with what, called with
// st locked; or, when the lock stays busy for a second, says so.
func (st *sessionState) describe(b *strings.Builder, what func(b *strings.Builder)) {
	fmt.Fprintf(b, "session %p:", st)
	if !st.lockWithin(time.Second) {
		b.WriteString(" lock busy for 1s\n")
		return
	}
	defer st.unlock()
	what(b)
}

// channelsLocked lists the channels st tracks, and where each was made.
func (st *sessionState) channelsLocked(b *strings.Builder) {
	fmt.Fprintf(b, " server=%v closed=%v broken=%v channels=%d\n", st.server != nil, st.closed, st.broken, len(st.channels))
	for c := range st.channels {
		fmt.Fprintf(b, "  channel %p: owned=%v opened=%v closeQueued=%v freed=%v user=%v remoteClosed=%v made at:\n%s\n",
			c, c.owned, c.opened, c.closeQueued, c.p.IsNil(), c.user != nil, c.remoteClosed, c.origin)
	}
}

// dumpLocked is EngineDump's description of st.
func (st *sessionState) dumpLocked(b *strings.Builder) {
	running := func(i int) string {
		if i >= len(st.ioDone) {
			return "none"
		}
		select {
		case <-st.ioDone[i]:
			return "ended"
		default:
			return "running"
		}
	}
	fmt.Fprintf(b, " closed=%v connected=%v broken=%v waiters=%d pump=%s flusher=%s writePending=%v",
		st.closed, st.connected, st.broken, st.waiters.Load(), running(0), running(1), st.writePendingLocked())
	if c := st.counter; !c.IsNil() {
		fmt.Fprintf(b, " socketIn=%d (woken at %d) socketOut=%d", c.InBytes(), st.seenIn, c.OutBytes())
	}
	if !st.p.IsNil() {
		if fd := lib.GetFd(st.p); fd >= 0 {
			inq, _ := unix.IoctlGetInt(fd, unix.SIOCINQ)
			outq, _ := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
			fmt.Fprintf(b, " kernelIn=%d kernelOut=%d", inq, outq)
		}
	}
	if st.readahead != 0 {
		fmt.Fprintf(b, " readahead=%d", lib.ReadaheadBuffered(st.sockFD))
	}
	b.WriteString("\n")
	for c := range st.channels {
		if c.sent == 0 && c.win.consumed == 0 && c.readGen == [3]chan struct{}{} {
			continue // nothing moved and nobody waits
		}
		fmt.Fprintf(b, "  channel %p: opened=%v localEOF=%v remoteEOF=%v remoteClosed=%v broken=%v waiting=%v/%v/%v activity=%d/%d,%d/%d sent=%d read=%d spill=%d/%d",
			c, c.opened, c.localEOF, c.remoteEOF, c.remoteClosed, c.broken, c.readGen[0] != nil, c.readGen[1] != nil, c.readGen[endStream] != nil,
			c.seenActivity[0], c.activityLocked(0), c.seenActivity[1], c.activityLocked(1), c.sent, c.win.consumed, len(c.win.spill[0]), len(c.win.spill[1]))
		if !c.p.IsNil() {
			fmt.Fprintf(b, " remoteWindow=%d buffered=%d/%d", lib.ChannelWindowSize(c.p), lib.ChannelPoll(c.p, 0), lib.ChannelPoll(c.p, 1))
		}
		b.WriteString("\n")
	}
}

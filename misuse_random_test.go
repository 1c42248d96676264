package libssh_test

// TestMisuseRandom: many goroutines do random things, sensible or not, to
// shared sessions, channels, commands, forwarders (SOCKS ones too),
// remote listeners, SFTP clients and forwarded connections, with channel callbacks that call back into the package,
// Close racing everything, contexts cancelled at random, and nil and zero
// values mixed in. Whatever they do, no call may panic or hang, and once
// everything is closed nothing may be left over.
//
// Environment:
//
//	LIBSSH_MISUSE_SEED    the seed (printed by every run) to replay a run's
//	                      choice of operations; the interleaving is the
//	                      scheduler's
//	LIBSSH_MISUSE_OPS     how many operations to run (default 20000)
//	LIBSSH_MISUSE_TIME    a bound on the run's length (default 3m); the run
//	                      stops there, short of its count, and says so
//	LIBSSH_MISUSE_STRICT  "1": stopping on LIBSSH_MISUSE_TIME short of the
//	                      count fails the test (make misuse sets it, so
//	                      that CI cannot do fewer operations than it says)
//	LIBSSH_MISUSE_SKIP    comma-separated words: an operation whose label
//	                      ("Session.Close[nil]", "cb:Session.Host") contains
//	                      one is not done. For working around a known
//	                      crash; the default skips nothing.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/leakcheck"
	"github.com/golibssh/libssh/sftp"
	"github.com/golibssh/libssh/sshtest"
)

const (
	misuseWorkers  = 8
	misuseSessions = 4
	// misuseSteady is the slot of the steady session, which no random
	// operation closes or replaces (only closeAll does, at the end; a
	// Session.New replaces it if it broke), so that commands and forwards
	// find a live session while the other slots churn.
	misuseSteady   = 0
	misuseChannels = 12
	misuseCmds     = 6
	misuseFwds     = 3
	misuseConns    = 6
	misuseLns      = 3
	misuseSFTPs    = 3
	// misuseSteadySFTP is the slot of the steady SFTP client: one on the
	// steady session, which no random operation closes or replaces (a
	// NewClient on the steady session fills it when it is empty or its
	// session was replaced), so that files get written and read back while
	// the other slots churn.
	misuseSteadySFTP = 0
	// misuseStall is how long no operation may complete before the run
	// counts as deadlocked.
	misuseStall = 10 * time.Second
)

func TestMisuseRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("LIBSSH_MISUSE_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "LIBSSH_MISUSE_SEED")
	}
	total := int64(20000)
	if v := os.Getenv("LIBSSH_MISUSE_OPS"); v != "" {
		var err error
		total, err = strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "LIBSSH_MISUSE_OPS")
	}
	budget := 3 * time.Minute
	if v := os.Getenv("LIBSSH_MISUSE_TIME"); v != "" {
		var err error
		budget, err = time.ParseDuration(v)
		require.NoError(t, err, "LIBSSH_MISUSE_TIME")
	}
	strict := os.Getenv("LIBSSH_MISUSE_STRICT") == "1"
	var skip []string
	for _, w := range strings.Split(os.Getenv("LIBSSH_MISUSE_SKIP"), ",") {
		if w = strings.TrimSpace(w); w != "" {
			skip = append(skip, w)
		}
	}
	t.Logf("LIBSSH_MISUSE_SEED=%d LIBSSH_MISUSE_OPS=%d LIBSSH_MISUSE_TIME=%v LIBSSH_MISUSE_STRICT=%v LIBSSH_MISUSE_SKIP=%q",
		seed, total, budget, strict, strings.Join(skip, ","))

	base := leakcheck.Take()
	liveSessions, liveChannels, liveKeys := libssh.LiveSessions(), libssh.LiveChannels(), libssh.LiveKeys()
	// A leak hook makes the package remember where each object was made,
	// for the report of what is left over. It is called for an object
	// collected without Close (its cleanup closed it): the run logs how
	// many there were.
	var collected atomic.Int64
	libssh.SetLeakHook(func(kind, stack string) { collected.Add(1) })
	t.Cleanup(func() { libssh.SetLeakHook(nil) })

	m := &misuse{t: t, seed: seed, skip: skip, panics: map[string]*misusePanic{}}
	serverLog := libssh.NewTailWriter(64 << 10) // its last messages, for a deadlock
	var err error
	m.srv, err = sshtest.NewServer(sshtest.Options{AuthNone: true, Forwarding: true, Exec: misuseExec,
		SFTP:   &sshtest.SFTP{Root: t.TempDir(), DiskSize: 64 << 20},
		Logger: slog.New(slog.NewTextHandler(serverLog, nil))})
	require.NoError(t, err)
	m.target, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m.serveEcho()
	m.opCount = make([]atomic.Int64, len(misuseOps))
	for i := range misuseSessions {
		s, err := m.newSession(testCtx(t, 30*time.Second))
		require.NoError(t, err)
		m.sessions[i].Store(s)
	}

	// The watchdog: no completed operation for misuseStall is a deadlock.
	stalled := make(chan []byte, 1)
	stopWatch := make(chan struct{})
	var aux sync.WaitGroup
	spawn(&aux, func() {
		last, since := int64(-1), time.Now()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
			if n := m.done.Load(); n != last {
				last, since = n, time.Now()
			} else if time.Since(since) > misuseStall {
				// The engine's state first: a session's lock
				// is free by now unless its holder is stuck.
				engine := libssh.EngineDump()
				m.stop.Store(true)
				stalled <- append([]byte("engines:\n"+engine+"\n"), allStacks()...)
				return
			}
		}
	})

	start := time.Now()
	deadline := start.Add(budget)
	var workers sync.WaitGroup
	for w := range misuseWorkers {
		spawn(&workers, func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for !m.stop.Load() && m.begun.Add(1) <= total {
				if time.Now().After(deadline) {
					m.outOfTime.Store(true)
					return
				}
				m.run(r)
			}
		})
	}
	finished := make(chan struct{})
	spawn(&aux, func() {
		workers.Wait()
		close(finished)
	})
	select {
	case <-finished:
		close(stopWatch)
		waitGroup(t, &aux, misuseStall)
	case stacks := <-stalled:
		m.report()
		t.Fatalf("deadlock: no operation completed in %v after %d (seed %d); in flight:\n%s\nthe server's last messages:\n%s\ngoroutines:\n%s",
			misuseStall, m.done.Load(), seed, m.inFlight(), serverLog, stacks)
	}
	elapsed := time.Since(start)
	t.Logf("%d operations in %v (%.0f/s) and %d from callbacks, by %d goroutines",
		m.done.Load(), elapsed.Round(time.Millisecond), float64(m.done.Load())/elapsed.Seconds(), m.cbDone.Load(), misuseWorkers)
	if m.outOfTime.Load() {
		if strict {
			t.Errorf("stopped by LIBSSH_MISUSE_TIME=%v after %d of %d operations, and LIBSSH_MISUSE_STRICT is set",
				budget, m.done.Load(), total)
		} else {
			t.Logf("stopped by LIBSSH_MISUSE_TIME=%v short of %d operations", budget, total)
		}
	}
	m.report()
	m.mu.Lock()
	t.Logf("real work done: %v", m.work)
	if len(m.steadyLosses) > 0 {
		t.Logf("the steady session broke %d times; the first: %s", len(m.steadyLosses), m.steadyLosses[0])
	}
	if total >= 20000 && !m.outOfTime.Load() {
		for _, what := range misuseWorkKinds {
			assert.Positive(t, m.work[what], "no %s in the whole run: the operations only failed", what)
		}
	}
	m.mu.Unlock()

	// Close everything, then nothing may be left.
	closed := make(chan struct{})
	spawn(&aux, func() {
		m.closeAll()
		close(closed)
	})
	select {
	case <-closed:
		waitGroup(t, &aux, misuseStall)
	case <-time.After(misuseStall):
		t.Fatalf("closing everything hung (seed %d); goroutines:\n%s", seed, allStacks())
	}
	runtime.GC()
	ok := assert.Equal(t, liveSessions, libssh.LiveSessions(), "C sessions not freed")
	ok = assert.Equal(t, liveChannels, libssh.LiveChannels(), "C channels not freed") && ok
	ok = assert.Equal(t, liveKeys, libssh.LiveKeys(), "C keys not freed") && ok
	ok = assert.NoError(t, base.Check(), "left over after closing everything") && ok
	if !ok {
		t.Logf("seed %d; what the sessions left still track:\n%s", seed, libssh.ChannelsLeft())
	}
	if n := collected.Load(); n > 0 {
		t.Logf("%d objects were garbage-collected without Close (closed by their cleanups)", n)
	}
}

// misuseExec answers the commands the test runs, in Go: "echo WORDS",
// "cat", "exit N", "sleep" (until the channel closes or a signal comes)
// and "big" (256 KiB of output).
func misuseExec(ctx context.Context, e *sshtest.Exec) int {
	f := strings.Fields(e.Command)
	if len(f) == 0 {
		return 127
	}
	switch f[0] {
	case "echo":
		fmt.Fprintln(e.Stdout, strings.Join(f[1:], " "))
	case "cat":
		io.Copy(e.Stdout, e.Stdin)
	case "exit":
		if len(f) > 1 {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	case "sleep":
		select {
		case <-ctx.Done():
		case <-e.Signals:
		}
		return 130
	case "big":
		buf := make([]byte, 32<<10)
		for range 8 {
			if _, err := e.Stdout.Write(buf); err != nil {
				return 1
			}
		}
	default:
		fmt.Fprintf(e.Stderr, "%s: not found\n", f[0])
		return 127
	}
	return 0
}

type misuse struct {
	t      *testing.T
	seed   uint64
	skip   []string
	srv    *sshtest.Server
	target net.Listener   // a TCP echo server to forward to
	work   map[string]int // real work done, by kind (guarded by mu)

	sessions [misuseSessions]atomic.Pointer[libssh.Session]
	channels [misuseChannels]atomic.Pointer[libssh.Channel]
	cmds     [misuseCmds]atomic.Pointer[misuseCmd]
	fwds     [misuseFwds]atomic.Pointer[libssh.Forwarder]
	conns    [misuseConns]atomic.Pointer[net.Conn]
	lns      [misuseLns]atomic.Pointer[libssh.RemoteListener]
	sftps    [misuseSFTPs]atomic.Pointer[sftp.Client]
	// steadySFTPOn is the session of the client in the steady SFTP slot.
	steadySFTPOn atomic.Pointer[libssh.Session]

	mu          sync.Mutex
	all         []io.Closer // everything made, closed at the end
	startedCmds []*libssh.Cmd
	panics      map[string]*misusePanic
	active      map[*misuseCall]struct{}
	echoWG      sync.WaitGroup
	owner       sync.Map // *libssh.Channel → the *libssh.Session it is on

	opCount   []atomic.Int64
	begun     atomic.Int64 // operations begun or about to be
	done      atomic.Int64 // operations completed
	cbDone    atomic.Int64 // callbacks' calls completed
	stop      atomic.Bool
	outOfTime atomic.Bool

	timers       sync.WaitGroup       // timers of m.after not stopped or done
	steadyLosses []string             // why the steady session broke, each time (guarded by mu)
	cancels      []context.CancelFunc // of contexts that outlive their operation
}

// misuseCmd is a command owned by one goroutine at a time (as os/exec's,
// Cmd is not for concurrent use): an operation takes it from its slot and
// puts it back. Its Process is shared, as a Process is.
type misuseCmd struct {
	cmd  *libssh.Cmd
	proc *libssh.Process
}

type misusePanic struct {
	n     int
	value any
	stack []byte
}

// misuseCall is one operation: its label names what it does, with the
// variants chosen ("[nil]", "[nilctx]"), for reports and LIBSSH_MISUSE_SKIP.
type misuseCall struct {
	m     *misuse
	r     *rand.Rand
	label string
	start time.Time
}

type misuseOp struct {
	name   string
	weight int
	do     func(c *misuseCall)
}

// run does one random operation, recovering and recording a panic.
func (m *misuse) run(r *rand.Rand) {
	i := misusePick(r)
	op := misuseOps[i]
	c := &misuseCall{m: m, r: r, label: op.name, start: time.Now()}
	if m.skipped(c.label) {
		m.begun.Add(-1) // not done: does not count
		return
	}
	m.mu.Lock()
	if m.active == nil {
		m.active = map[*misuseCall]struct{}{}
	}
	m.active[c] = struct{}{}
	m.mu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			m.recordPanic(c.label, v)
		}
		m.mu.Lock()
		delete(m.active, c)
		m.mu.Unlock()
		m.opCount[i].Add(1)
		m.done.Add(1)
	}()
	op.do(c)
}

func misusePick(r *rand.Rand) int {
	n := r.IntN(misuseTotalWeight)
	for i, op := range misuseOps {
		if n < op.weight {
			return i
		}
		n -= op.weight
	}
	panic("unreachable")
}

// steadyLost records that the steady session was found broken (and is
// being replaced), with why, for the end of the run.
func (m *misuse) steadyLost(s *libssh.Session) {
	why := fmt.Sprint(s.Wait(misuseCancelled()))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steadyLosses = append(m.steadyLosses, why)
}

// misuseWorkKinds are the kinds of real work that a run of at least 20000
// operations must have done each at least once.
var misuseWorkKinds = []string{
	"session logged in", "command ran", "piped command echoed",
	"forwarded connection", "dialed connection echoed", "forwarder echoed",
	"remote listener echoed", "SOCKS forwarder echoed", "sftp file read back",
}

// worked counts an operation that did real work (a login, a command that
// ran, bytes echoed through a forward), so that a run in which everything
// failed early cannot pass unnoticed.
func (m *misuse) worked(what string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.work == nil {
		m.work = map[string]int{}
	}
	m.work[what]++
}

func (m *misuse) skipped(label string) bool {
	for _, w := range m.skip {
		if strings.Contains(label, w) {
			return true
		}
	}
	return false
}

func (m *misuse) recordPanic(label string, v any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.panics[label]
	if p == nil {
		buf := make([]byte, 64<<10)
		p = &misusePanic{value: v, stack: buf[:runtime.Stack(buf, false)]}
		m.panics[label] = p
	}
	p.n++
}

// safely runs f, recording a panic under label: for goroutines and timers
// the test starts, where a panic would end the process.
func (m *misuse) safely(label string, f func()) {
	defer func() {
		if v := recover(); v != nil {
			m.recordPanic(label, v)
		}
	}()
	f()
}

// report fails the test once per operation that panicked, with the first
// stack, and logs how often each operation ran.
func (m *misuse) report() {
	m.mu.Lock()
	defer m.mu.Unlock()
	labels := make([]string, 0, len(m.panics))
	for l := range m.panics {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		p := m.panics[l]
		m.t.Errorf("panic in %s (%d times, seed %d): %v\n%s", l, p.n, m.seed, p.value, p.stack)
	}
	var counts []string
	for i, op := range misuseOps {
		counts = append(counts, fmt.Sprintf("%s=%d", op.name, m.opCount[i].Load()))
	}
	m.t.Logf("operations: %s", strings.Join(counts, " "))
	m.panics = map[string]*misusePanic{}
}

func (m *misuse) inFlight() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for c := range m.active {
		out = append(out, fmt.Sprintf("  %s (for %v)", c.label, time.Since(c.start).Round(time.Millisecond)))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// note adds a variant to the call's label; false means that variant is
// skipped (LIBSSH_MISUSE_SKIP), and the label is left as it was.
func (c *misuseCall) note(variant string) bool {
	label := c.label + "[" + variant + "]"
	if c.m.skipped(label) {
		return false
	}
	c.label = label
	return true
}

func (c *misuseCall) chance(percent int) bool { return c.r.IntN(100) < percent }

// ctx returns a context for a call that mostly waits (Session.Wait,
// Channel.Wait, a request): done already or soon, at times cancelled from
// elsewhere in the middle, at times long enough for the call to finish,
// and now and then nil.
func (c *misuseCall) ctx() (context.Context, context.CancelFunc) {
	return c.ctxMix(30, 20, 15)
}

// workCtx returns a context for a call that does real work (runs a
// command, opens a channel or a forward): mostly long enough for it to
// finish (50 to 500 ms), at times done already, cancelled from elsewhere in
// the middle or nil.
func (c *misuseCall) workCtx() (context.Context, context.CancelFunc) {
	return c.ctxMix(8, 5, 10)
}

// ctxMix returns, out of 100: done (percent), a timeout under 20 ms (short
// percent), cancelled from elsewhere within 50 ms (cancelled percent), nil
// (2), and otherwise a timeout of 50 to 500 ms.
func (c *misuseCall) ctxMix(done, short, cancelled int) (context.Context, context.CancelFunc) {
	switch p := c.r.IntN(100); {
	case p < done:
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	case p < done+short:
		return context.WithTimeout(context.Background(), time.Duration(c.r.IntN(20_000))*time.Microsecond)
	case p < done+short+cancelled:
		ctx, cancel := context.WithCancel(context.Background())
		c.m.after(time.Duration(c.r.IntN(50_000))*time.Microsecond, cancel)
		return ctx, cancel
	case p < 98:
		return context.WithTimeout(context.Background(), time.Duration(50+c.r.IntN(450))*time.Millisecond)
	default:
		if c.note("nilctx") {
			return nil, func() {}
		}
		return context.WithTimeout(context.Background(), time.Second)
	}
}

// session returns a shared session (the steady one half the time), or now
// and then a nil or zero one.
func (c *misuseCall) session() *libssh.Session {
	switch p := c.r.IntN(100); {
	case p < 2 && c.note("nil"):
		return nil
	case p >= 2 && p < 4 && c.note("zero"):
		return &libssh.Session{}
	case p >= 50:
		return c.m.sessions[misuseSteady].Load()
	}
	return c.m.sessions[c.r.IntN(misuseSessions)].Load()
}

// churnSession is session for the calls that end a session (Close,
// Disconnect): any slot but the steady one's.
func (c *misuseCall) churnSession() *libssh.Session {
	if v, ok := nilOrZero[libssh.Session](c, 2); ok {
		return v
	}
	return c.m.sessions[c.churnSlot()].Load()
}

func (c *misuseCall) churnSlot() int {
	i := c.r.IntN(misuseSessions - 1)
	if i >= misuseSteady {
		i++
	}
	return i
}

// nilOrZero returns, pct times in a hundred each, a nil or a zero *T in
// place of a real one (ok then true), to mix misuse into every kind of call.
func nilOrZero[T any](c *misuseCall, pct int) (v *T, ok bool) {
	switch p := c.r.IntN(100); {
	case p < pct && c.note("nil"):
		return nil, true
	case p >= pct && p < 2*pct && c.note("zero"):
		return new(T), true
	}
	return nil, false
}

// channel returns a shared channel, or now and then a nil or zero one;
// false when the slot it picked is empty.
func (c *misuseCall) channel() (*libssh.Channel, bool) {
	if v, ok := nilOrZero[libssh.Channel](c, 2); ok {
		return v, true
	}
	ch := c.m.channels[c.r.IntN(misuseChannels)].Load()
	return ch, ch != nil
}

// forwarder is channel's counterpart for forwarders.
func (c *misuseCall) forwarder() (*libssh.Forwarder, bool) {
	if v, ok := nilOrZero[libssh.Forwarder](c, 3); ok {
		return v, true
	}
	f := c.m.fwds[c.r.IntN(misuseFwds)].Load()
	return f, f != nil
}

// liveForwarder is forwarder, but it prefers a forwarder that has not
// closed yet: the first such slot from a random one on, else whatever the
// random slot holds.
func (c *misuseCall) liveForwarder() (*libssh.Forwarder, bool) {
	if v, ok := nilOrZero[libssh.Forwarder](c, 3); ok {
		return v, true
	}
	first := c.r.IntN(misuseFwds)
	for k := range misuseFwds {
		f := c.m.fwds[(first+k)%misuseFwds].Load()
		if f == nil {
			continue
		}
		select {
		case <-f.Done():
		default:
			return f, true
		}
	}
	f := c.m.fwds[first].Load()
	return f, f != nil
}

// listener returns a shared remote listener, or now and then a nil or zero
// one; false when the slot it picked is empty.
func (c *misuseCall) listener() (*libssh.RemoteListener, bool) {
	if v, ok := nilOrZero[libssh.RemoteListener](c, 3); ok {
		return v, true
	}
	ln := c.m.lns[c.r.IntN(misuseLns)].Load()
	return ln, ln != nil
}

// socksConnect asks the SOCKS5 server on conn, without authentication, to
// connect to addr (an IPv4 address and port), and says whether it did.
func socksConnect(conn net.Conn, addr *net.TCPAddr, d time.Duration) bool {
	conn.SetDeadline(time.Now().Add(d))
	defer conn.SetDeadline(time.Time{})
	req := []byte{5, 1, 0, 5, 1, 0, 1}
	req = append(req, addr.IP.To4()...)
	req = append(req, byte(addr.Port>>8), byte(addr.Port))
	if _, err := conn.Write(req); err != nil {
		return false
	}
	b := make([]byte, 2+10) // method choice, then the reply with an IPv4 address
	if _, err := io.ReadFull(conn, b); err != nil {
		return false
	}
	return b[0] == 5 && b[1] == 0 && b[2] == 5 && b[3] == 0
}

// adopt keeps x for closeAll and puts it in a random one of slots,
// closing what was there.
func adopt[T any, P interface {
	*T
	Close() error
}](c *misuseCall, slots []atomic.Pointer[T], x P) {
	c.m.keep(x)
	if old := P(slots[c.r.IntN(len(slots))].Swap((*T)(x))); old != nil {
		old.Close()
	}
}

// dialForwarder connects to a live forwarder's port (see liveForwarder);
// nil when there is none or it does not answer.
func (c *misuseCall) dialForwarder() net.Conn {
	f, ok := c.liveForwarder()
	if !ok {
		return nil
	}
	la := f.LocalAddr()
	if la == nil {
		return nil // a nil or zero Forwarder listens nowhere
	}
	conn, err := net.DialTimeout("tcp", la.String(), time.Second)
	if err != nil {
		return nil
	}
	return conn
}

// echoes sends "ping" on conn and reads it back within d: a round trip
// through a forward to the echo server.
func echoes(conn net.Conn, d time.Duration) bool {
	conn.SetDeadline(time.Now().Add(d))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write([]byte("ping")); err != nil {
		return false
	}
	b := make([]byte, 4)
	n, _ := io.ReadFull(conn, b)
	return n == 4 && string(b) == "ping"
}

func (c *misuseCall) conn() net.Conn {
	if p := c.m.conns[c.r.IntN(misuseConns)].Load(); p != nil {
		return *p
	}
	return nil
}

// takeCmd takes a command from its slot (nil: none there), to be put back
// with putCmd.
func (c *misuseCall) takeCmd() (*misuseCmd, int) {
	i := c.r.IntN(misuseCmds)
	return c.m.cmds[i].Swap(nil), i
}

func (m *misuse) putCmd(i int, mc *misuseCmd) {
	if old := m.cmds[i].Swap(mc); old != nil {
		m.cmds[i].CompareAndSwap(nil, old) // keep it if the slot is free again; else it is dropped
	}
}

// guard closes what a blocking call waits on if it has not returned after
// a while: Close racing the call, and the bound on a call that has no
// context.
func (c *misuseCall) guard(end func() error) (stop func()) {
	return c.guardAfter(time.Duration(1+c.r.IntN(50_000))*time.Microsecond, end)
}

// guardAfter is guard with the delay given.
func (c *misuseCall) guardAfter(d time.Duration, end func() error) (stop func()) {
	label := c.label + " (guard's Close)"
	return c.m.after(d, func() { c.m.safely(label, func() { end() }) })
}

// after runs f after d unless stopped first; closeAll waits for every f
// that started.
func (m *misuse) after(d time.Duration, f func()) (stop func()) {
	m.timers.Add(1)
	var once sync.Once
	done := func() { once.Do(m.timers.Done) }
	t := time.AfterFunc(d, func() {
		defer done()
		f()
	})
	return func() {
		if t.Stop() {
			done()
		}
	}
}

// later keeps cancel for closeAll: for a context that outlives its
// operation (a command's, a forwarder's).
func (m *misuse) later(cancel context.CancelFunc) {
	m.mu.Lock()
	m.cancels = append(m.cancels, cancel)
	m.mu.Unlock()
}

func (m *misuse) keep(x io.Closer) {
	m.mu.Lock()
	m.all = append(m.all, x)
	m.mu.Unlock()
}

func (m *misuse) newSession(ctx context.Context) (*libssh.Session, error) {
	s, err := libssh.NewSession(ctx, m.srv.Host(), libssh.WithPort(m.srv.Port()), libssh.WithUser("misuse"),
		trustSSHTest(m.srv))
	if err != nil {
		return nil, err
	}
	m.keep(s)
	if _, err := s.UserauthNone(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// serveEcho serves m.target: every connection gets back what it sends.
func (m *misuse) serveEcho() {
	spawn(&m.echoWG, func() {
		for {
			conn, err := m.target.Accept()
			if err != nil {
				return
			}
			spawn(&m.echoWG, func() {
				defer conn.Close()
				// Not io.Copy(conn, conn): TCP to TCP splices through a
				// pipe that Go keeps in a pool, which the leak check
				// would see as left open.
				echo(conn)
			})
		}
	})
}

// closeAll closes everything the run made, then the servers.
func (m *misuse) closeAll() {
	m.mu.Lock()
	all, started, cancels := m.all, m.startedCmds, m.cancels
	m.mu.Unlock()
	m.timers.Wait()
	for _, cancel := range cancels {
		cancel()
	}
	for _, x := range slices.Backward(all) {
		m.safely(fmt.Sprintf("closing %T at the end", x), func() { x.Close() })
	}
	for _, cmd := range started {
		m.safely("Cmd.Wait at the end", func() { cmd.Wait() })
	}
	m.srv.Close()
	m.target.Close()
	m.echoWG.Wait()
}

var misuseCommands = []string{"echo hello", "cat", "exit 3", "big", "sleep", "nosuchcommand"}

// callbacks returns channel callbacks that call into the package: the
// channel's and its session's methods, another session's, a forwarder's.
// Each of those must return an error or work, never hang or panic.
func (c *misuseCall) callbacks(ch *libssh.Channel) *callbacks.ChannelCallbacks {
	m := c.m
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(c.r.Uint64(), c.r.Uint64()))
	own := m.sessions[c.r.IntN(misuseSessions)].Load()
	if s, ok := m.owner.Load(ch); ok {
		own = s.(*libssh.Session)
	}
	act := func() {
		mu.Lock()
		n := r.IntN(len(misuseCallbackActs))
		other := m.sessions[r.IntN(misuseSessions)].Load()
		otherCh := m.channels[r.IntN(misuseChannels)].Load()
		mu.Unlock()
		a := misuseCallbackActs[n]
		label := "cb:" + a.name
		if m.skipped(label) {
			return
		}
		m.safely(label, func() { a.do(misuseCbEnv{own, ch, other, otherCh, m}) })
		m.cbDone.Add(1)
	}
	return &callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			act()
			mu.Lock()
			defer mu.Unlock()
			return r.IntN(len(data) + 1)
		},
		OnEOF:            act,
		OnClose:          act,
		OnExitStatus:     func(int) { act() },
		OnExitSignal:     func(string, bool, string, string) { act() },
		OnWriteWontblock: func(uint32) { act() },
	}
}

type misuseCallbackAct struct {
	name string
	do   func(e misuseCbEnv)
}

// misuseCbEnv is what a callback's call can use: its channel and that
// channel's session, another session and channel, the forwarders.
type misuseCbEnv struct {
	s       *libssh.Session
	ch      *libssh.Channel
	other   *libssh.Session
	otherCh *libssh.Channel
	m       *misuse
}

// misuseNilCtx is a nil context, passed on purpose.
var misuseNilCtx context.Context

func misuseCancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

var misuseCallbackActs = []misuseCallbackAct{
	{"Channel.IsOpen", func(e misuseCbEnv) {
		e.ch.IsOpen()
	}},
	{"Channel.EOF", func(e misuseCbEnv) { e.ch.EOF() }},
	{"Channel.String", func(e misuseCbEnv) {
		_ = e.ch.String()
	}},
	{"Channel.Write", func(e misuseCbEnv) {
		e.ch.Write([]byte("x"))
	}},
	{"Channel.Read", func(e misuseCbEnv) {
		e.ch.Read(make([]byte, 1))
	}},
	{"Channel.Wait", func(e misuseCbEnv) {
		e.ch.Wait(misuseCancelled())
	}},
	{"Channel.SendSignal", func(e misuseCbEnv) {
		e.ch.SendSignal(misuseCancelled(), "TERM")
	}},
	{"Channel.Close", func(e misuseCbEnv) {
		e.ch.Close()
	}},
	{"Session.Host", func(e misuseCbEnv) {
		_ = e.s.Host()
	}},
	{"Session.IsOpen", func(e misuseCbEnv) {
		e.s.IsOpen()
	}},
	{"Session.String", func(e misuseCbEnv) {
		_ = e.s.String()
	}},
	{"Session.NewChannel", func(e misuseCbEnv) {
		if ch, err := e.s.NewChannel(); err == nil {
			ch.Close()
		}
	}},
	{"Session.Close", func(e misuseCbEnv) {
		if e.s != e.m.sessions[misuseSteady].Load() {
			e.s.Close()
		}
	}},
	{"other Session.IsOpen", func(e misuseCbEnv) {
		e.other.IsOpen()
	}},
	{"other Channel.IsOpen", func(e misuseCbEnv) {
		if e.otherCh != nil {
			e.otherCh.IsOpen()
		}
	}},
	{"other Channel.Write", func(e misuseCbEnv) {
		if e.otherCh != nil {
			e.otherCh.Write([]byte("y"))
		}
	}},
	{"Forwarder.Close", func(e misuseCbEnv) {
		if f := e.m.fwds[0].Load(); f != nil {
			f.Close()
		}
	}},
}

var misuseTotalWeight int

// misuseOps: name, weight, what it does. Cheap operations (getters, calls
// with a context that is already done, calls on closed things) weigh most.
var misuseOps []misuseOp

func init() {
	getter := func(name string, f func(s *libssh.Session)) misuseOp {
		return misuseOp{name, 20, func(c *misuseCall) { f(c.session()) }}
	}
	chGetter := func(name string, f func(ch *libssh.Channel)) misuseOp {
		return misuseOp{name, 20, func(c *misuseCall) {
			if ch, ok := c.channel(); ok {
				f(ch)
			}
		}}
	}
	withCtx := func(c *misuseCall, f func(ctx context.Context)) {
		ctx, cancel := c.ctx()
		defer cancel()
		f(ctx)
	}
	withWorkCtx := func(c *misuseCall, f func(ctx context.Context)) {
		ctx, cancel := c.workCtx()
		defer cancel()
		f(ctx)
	}
	misuseOps = []misuseOp{
		getter("Session.Host", func(s *libssh.Session) { _ = s.Host() }),
		getter("Session.User", func(s *libssh.Session) { _ = s.User() }),
		getter("Session.Port", func(s *libssh.Session) { _ = s.Port() }),
		getter("Session.String", func(s *libssh.Session) { _ = s.String() }),
		getter("Session.IsOpen", func(s *libssh.Session) { s.IsOpen() }),
		getter("Session.IsConnected", func(s *libssh.Session) { s.IsConnected() }),
		getter("Session.Err", func(s *libssh.Session) { _ = s.Err() }),
		getter("Session.Done", func(s *libssh.Session) {
			select {
			case <-s.Done():
			default:
			}
		}),
		getter("Session.KnownHostsPath", func(s *libssh.Session) { _ = s.KnownHostsPath() }),
		getter("Session.LastError", func(s *libssh.Session) { _ = s.LastError() }),
		getter("Session.FD", func(s *libssh.Session) { s.FD() }),
		getter("Session.Algorithms", func(s *libssh.Session) { s.Algorithms() }),
		getter("Session.ServerPublicKey", func(s *libssh.Session) { s.ServerPublicKey() }),
		getter("Session.IsKnownServer", func(s *libssh.Session) { s.IsKnownServer() }),
		{"Session.Wait", 6, func(c *misuseCall) {
			s := c.session()
			withCtx(c, func(ctx context.Context) { s.Wait(ctx) })
		}},
		{"Session.Connect", 2, func(c *misuseCall) {
			s := c.session()
			withCtx(c, func(ctx context.Context) { s.Connect(ctx) })
		}},
		// A "none" attempt on a session that is logged in already is
		// refused by sshtest's libssh with a disconnect (and ignored by
		// OpenSSH, so that the call waits until its context ends and
		// leaves the session unusable): not on the steady session.
		{"Session.UserauthNone", 2, func(c *misuseCall) {
			s := c.churnSession()
			withCtx(c, func(ctx context.Context) { s.UserauthNone(ctx) })
		}},
		{"Session.UserauthList", 2, func(c *misuseCall) {
			s := c.churnSession()
			withCtx(c, func(ctx context.Context) { s.UserauthList(ctx) })
		}},
		{"Session.UserauthPublicKey(nil)", 1, func(c *misuseCall) {
			s := c.session()
			withCtx(c, func(ctx context.Context) { s.UserauthPublicKey(ctx, nil) })
		}},
		{"Session.NewChannel", 2, func(c *misuseCall) {
			if ch, err := c.session().NewChannel(); err == nil && c.chance(50) {
				ch.Close()
			}
		}},
		{"Session.WithChannel", 1, func(c *misuseCall) {
			s := c.session()
			withWorkCtx(c, func(ctx context.Context) {
				s.WithChannel(func(ch *libssh.Channel) error {
					if err := ch.OpenSession(ctx); err != nil {
						return err
					}
					return ch.RequestExec(ctx, "echo with")
				})
			})
		}},
		{"Session.New", 2, func(c *misuseCall) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := c.m.newSession(ctx)
			if err != nil {
				if s != nil {
					s.Close()
				}
				return
			}
			c.m.worked("session logged in")
			slot := c.churnSlot()
			if steady := c.m.sessions[misuseSteady].Load(); !steady.IsConnected() {
				// Nothing closes the steady session, but it may have
				// broken: replace it, and say so at the end.
				slot = misuseSteady
				c.m.steadyLost(steady)
			}
			if old := c.m.sessions[slot].Swap(s); old != nil {
				old.Close()
			}
		}},
		{"Session.Close", 1, func(c *misuseCall) { c.churnSession().Close() }},
		{"Session.Disconnect", 1, func(c *misuseCall) { c.churnSession().Disconnect() }},

		chGetter("Channel.IsOpen", func(ch *libssh.Channel) { ch.IsOpen() }),
		chGetter("Channel.IsAssigned", func(ch *libssh.Channel) { ch.IsAssigned() }),
		chGetter("Channel.EOF", func(ch *libssh.Channel) { ch.EOF() }),
		chGetter("Channel.IsWritable", func(ch *libssh.Channel) { ch.IsWritable() }),
		chGetter("Channel.String", func(ch *libssh.Channel) { _ = ch.String() }),
		chGetter("Channel.ExitStatus", func(ch *libssh.Channel) { ch.ExitStatus() }),
		{"Channel.New", 4, func(c *misuseCall) {
			s := c.session()
			ch, err := s.NewChannel()
			if err != nil {
				return
			}
			c.m.owner.Store(ch, s)
			if c.chance(30) && c.note("callbacks") {
				ch.SetCallbacks(c.callbacks(ch))
			}
			if c.chance(90) {
				withWorkCtx(c, func(ctx context.Context) {
					if ch.OpenSession(ctx) == nil && c.chance(90) {
						ch.RequestExec(ctx, misuseCommands[c.r.IntN(len(misuseCommands))])
					}
				})
			}
			if old := c.m.channels[c.r.IntN(misuseChannels)].Swap(ch); old != nil {
				old.Close()
			}
		}},
		{"Channel.OpenForward", 1, func(c *misuseCall) {
			s := c.session()
			ch, err := s.NewChannel()
			if err != nil {
				return
			}
			c.m.owner.Store(ch, s)
			withWorkCtx(c, func(ctx context.Context) {
				ch.OpenForward(ctx, "127.0.0.1", c.m.target.Addr().(*net.TCPAddr).Port)
			})
			if old := c.m.channels[c.r.IntN(misuseChannels)].Swap(ch); old != nil {
				old.Close()
			}
		}},
		{"Channel.Requests", 3, func(c *misuseCall) {
			ch, ok := c.channel()
			if !ok {
				return
			}
			withCtx(c, func(ctx context.Context) {
				switch c.r.IntN(8) {
				case 7:
					ch.RequestAuthAgent(ctx)
				case 0:
					ch.RequestEnv(ctx, "MISUSE", "1")
				case 1:
					ch.RequestPty(ctx, "xterm", 80, 24)
				case 2:
					ch.SendSignal(ctx, "TERM")
				case 3:
					ch.RequestExec(ctx, "echo again")
				case 4:
					ch.ChangePtySize(ctx, 100, 40)
				case 5:
					ch.OpenSession(ctx)
				case 6:
					ch.RequestSubsystem(ctx, "sftp")
				}
			})
		}},
		{"Channel.Read", 3, func(c *misuseCall) {
			ch, ok := c.channel()
			if !ok {
				return
			}
			var b []byte
			if !c.chance(5) || !c.note("nilbuf") {
				b = make([]byte, 1+c.r.IntN(64<<10))
			}
			defer c.guard(ch.Close)()
			if c.chance(30) {
				ch.Stderr().Read(b)
			} else {
				ch.Read(b)
			}
		}},
		{"Channel.Write", 3, func(c *misuseCall) {
			ch, ok := c.channel()
			if !ok {
				return
			}
			var b []byte
			if !c.chance(5) || !c.note("nilbuf") {
				b = make([]byte, 1+c.r.IntN(64<<10))
			}
			defer c.guard(ch.Close)()
			switch c.r.IntN(3) {
			case 0:
				ch.Write(b)
			case 1:
				ch.WriteString("hello\n")
			case 2:
				ch.WriteStderr(b)
			}
		}},
		{"Channel.Wait", 3, func(c *misuseCall) {
			ch, ok := c.channel()
			if !ok {
				return
			}
			withCtx(c, func(ctx context.Context) { ch.Wait(ctx) })
		}},
		{"Channel.PollLoop", 1, func(c *misuseCall) {
			ch, ok := c.channel()
			if !ok {
				return
			}
			withCtx(c, func(ctx context.Context) { ch.PollLoop(ctx) })
		}},
		{"Channel.CloseWrite", 1, func(c *misuseCall) {
			if ch, ok := c.channel(); ok {
				ch.CloseWrite()
			}
		}},
		{"Channel.Close", 2, func(c *misuseCall) {
			if ch, ok := c.channel(); ok {
				ch.Close()
			}
		}},
		{"Channel.SetMaxWindow", 1, func(c *misuseCall) {
			if ch, ok := c.channel(); ok {
				ch.SetMaxWindow(8<<20 + c.r.IntN(32<<20))
			}
		}},
		{"Channel.SetCallbacks", 2, func(c *misuseCall) {
			ch, ok := c.channel()
			if !ok {
				return
			}
			if c.chance(10) && c.note("nilcb") {
				ch.SetCallbacks(nil)
				return
			}
			ch.SetCallbacks(c.callbacks(ch))
		}},

		{"Cmd.Start", 3, func(c *misuseCall) {
			s := c.session()
			line := misuseCommands[c.r.IntN(len(misuseCommands))]
			var cmd *libssh.Cmd
			var cancel context.CancelFunc = func() {}
			if c.chance(70) {
				var ctx context.Context
				ctx, cancel = c.workCtx()
				cmd = s.CommandLineContext(ctx, line)
			} else {
				if line == "sleep" || line == "cat" {
					line = "echo no context"
				}
				cmd = s.CommandLine(line)
			}
			if c.chance(30) {
				cmd.Stdin = strings.NewReader("input\n")
			}
			if c.chance(10) {
				cmd.Pty = &libssh.Pty{} // sshtest refuses it
			}
			if c.chance(10) && c.note("zero") {
				cmd = &libssh.Cmd{}
			}
			err := cmd.Start()
			mc := &misuseCmd{cmd: cmd, proc: cmd.Process}
			if err == nil {
				c.m.mu.Lock()
				c.m.startedCmds = append(c.m.startedCmds, cmd)
				c.m.mu.Unlock()
				c.m.later(cancel) // the command's context lives on
			} else {
				cancel()
			}
			c.m.cmds[c.r.IntN(misuseCmds)].Store(mc)
		}},
		{"Cmd.Wait", 2, func(c *misuseCall) {
			mc, i := c.takeCmd()
			if mc == nil {
				return
			}
			defer c.m.putCmd(i, mc)
			if mc.proc != nil {
				p := mc.proc
				defer c.m.after(time.Duration(1+c.r.IntN(50_000))*time.Microsecond, func() {
					c.m.safely("Cmd.Wait (guard's Kill)", func() { p.Kill() })
				})()
			}
			mc.cmd.Wait()
		}},
		{"Cmd.Run", 3, func(c *misuseCall) {
			s := c.session()
			ctx, cancel := c.workCtx()
			defer cancel()
			if ctx == nil {
				s.CommandContext(ctx, "echo", "x").Run()
				return
			}
			cmd := s.CommandLineContext(ctx, misuseCommands[c.r.IntN(len(misuseCommands))])
			var err error
			switch c.r.IntN(4) {
			case 0:
				err = cmd.Run()
			case 1:
				_, err = cmd.Output()
			case 2:
				_, err = cmd.CombinedOutput()
			case 3:
				_, err = cmd.Success()
			}
			var exit *libssh.ExitError
			if err == nil || errors.As(err, &exit) {
				c.m.worked("command ran")
			}
		}},
		{"Cmd.Pipes", 1, func(c *misuseCall) {
			s := c.session()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			cmd := s.CommandLineContext(ctx, "cat")
			in, err1 := cmd.StdinPipe()
			out, err2 := cmd.StdoutPipe()
			if err1 != nil || err2 != nil {
				return
			}
			if c.chance(20) {
				in.Write([]byte("before start\n")) // os/exec's example does this
			}
			if cmd.Start() != nil {
				return
			}
			in.Write([]byte("hello\n"))
			if c.chance(80) {
				in.Close()
			}
			got, _ := io.ReadAll(out)
			if cmd.Wait() == nil && strings.HasSuffix(string(got), "hello\n") {
				c.m.worked("piped command echoed")
			}
		}},
		{"Cmd.Again", 1, func(c *misuseCall) {
			mc, i := c.takeCmd()
			if mc == nil {
				return
			}
			defer c.m.putCmd(i, mc)
			switch c.r.IntN(5) {
			case 0:
				mc.cmd.Start()
			case 1:
				mc.cmd.Run()
			case 2:
				mc.cmd.StdinPipe()
			case 3:
				_ = mc.cmd.String()
			case 4:
				mc.cmd.Output()
			}
		}},
		{"Process", 3, func(c *misuseCall) {
			mc := c.m.cmds[c.r.IntN(misuseCmds)].Load()
			if mc == nil || mc.proc == nil {
				return
			}
			p := mc.proc
			switch c.r.IntN(7) {
			case 6:
				p.Resize(100, 30)
			case 0:
				p.Kill()
			case 1:
				p.SendSignal("INT")
			case 2:
				p.Exited()
			case 3:
				p.ExitCode()
			case 4:
				_ = p.String()
			case 5:
				p.Stdout()
			}
		}},

		{"NewForwarder", 2, func(c *misuseCall) {
			s := c.session()
			// The forwarder's life: mostly long enough to be used.
			var ctx context.Context
			var cancel context.CancelFunc
			if c.chance(80) {
				ctx, cancel = context.WithTimeout(context.Background(), time.Duration(200+c.r.IntN(2800))*time.Millisecond)
			} else {
				ctx, cancel = c.ctx()
			}
			f, err := libssh.NewForwarder(ctx, s, 0, "127.0.0.1", c.m.target.Addr().(*net.TCPAddr).Port)
			if err != nil {
				cancel()
				return
			}
			c.m.later(cancel)
			adopt(c, c.m.fwds[:], f)
		}},
		{"Forwarder.Getters", 4, func(c *misuseCall) {
			f, ok := c.forwarder()
			if !ok {
				return
			}
			switch c.r.IntN(3) {
			case 0:
				f.Clients()
			case 1:
				f.LocalAddr()
			case 2:
				select {
				case <-f.Done():
				default:
				}
			}
		}},
		{"Forwarder.Use", 3, func(c *misuseCall) {
			conn := c.dialForwarder()
			if conn == nil {
				return
			}
			defer conn.Close()
			d := time.Duration(1+c.r.IntN(500)) * time.Millisecond
			if c.chance(20) && c.note("short") {
				d = time.Duration(1+c.r.IntN(10_000)) * time.Microsecond
			}
			if echoes(conn, d) {
				c.m.worked("forwarder echoed")
			}
		}},
		{"Forwarder.Close", 1, func(c *misuseCall) {
			if f, ok := c.forwarder(); ok {
				f.Close()
			}
		}},

		{"NewSOCKSForwarder", 1, func(c *misuseCall) {
			s := c.session()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(200+c.r.IntN(2800))*time.Millisecond)
			if c.chance(10) && c.note("nilctx") {
				ctx = misuseNilCtx
			}
			var opts []libssh.ForwarderOption
			if c.chance(10) && c.note("auth") {
				opts = append(opts, libssh.WithSOCKSAuth("u", "p")) // SOCKS.Use then fails its handshake
			}
			f, err := libssh.NewSOCKSForwarder(ctx, s, 0, opts...)
			if err != nil {
				cancel()
				return
			}
			c.m.later(cancel)
			adopt(c, c.m.fwds[:], f)
		}},
		{"SOCKS.Use", 2, func(c *misuseCall) {
			conn := c.dialForwarder()
			if conn == nil {
				return
			}
			defer conn.Close()
			// Against a plain forwarder this is data for the echo server,
			// and the reply is not a SOCKS one.
			d := time.Duration(1+c.r.IntN(500)) * time.Millisecond
			if socksConnect(conn, c.m.target.Addr().(*net.TCPAddr), d) && echoes(conn, d) {
				c.m.worked("SOCKS forwarder echoed")
			}
		}},

		{"Session.Listen", 2, func(c *misuseCall) {
			s := c.session()
			ctx, cancel := c.workCtx()
			defer cancel()
			ln, err := s.Listen(ctx, "tcp", "127.0.0.1:0")
			if err != nil {
				if ln != nil {
					c.m.recordPanic(c.label, "Listen returned an error and a listener")
				}
				return
			}
			adopt(c, c.m.lns[:], ln.(*libssh.RemoteListener))
		}},
		{"RemoteListener.Use", 3, func(c *misuseCall) {
			ln, ok := c.listener()
			if !ok {
				return
			}
			a, _ := ln.Addr().(*net.TCPAddr)
			if a == nil || a.Port == 0 {
				return // a nil or zero listener listens nowhere
			}
			conn, err := net.DialTimeout("tcp", a.String(), time.Second)
			if err != nil {
				return
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+c.r.IntN(500))*time.Millisecond)
			defer cancel()
			served := make(chan struct{})
			go func() {
				defer close(served)
				// Another operation's Accept may take this connection,
				// and this one another's.
				in, err := ln.AcceptContext(ctx)
				if err != nil {
					return
				}
				defer in.Close()
				in.SetDeadline(time.Now().Add(500 * time.Millisecond))
				b := make([]byte, 4)
				if _, err := io.ReadFull(in, b); err == nil {
					in.Write(b)
				}
			}()
			if echoes(conn, 500*time.Millisecond) {
				c.m.worked("remote listener echoed")
			}
			conn.Close()
			<-served // ends with ctx at the latest
		}},
		{"RemoteListener.Accept", 1, func(c *misuseCall) {
			ln, ok := c.listener()
			if !ok {
				return
			}
			var in net.Conn
			if c.chance(30) && c.note("noctx") {
				defer c.guard(ln.Close)()
				in, _ = ln.Accept()
			} else {
				ctx, cancel := c.ctxMix(10, 30, 10)
				defer cancel()
				in, _ = ln.AcceptContext(ctx)
			}
			if in != nil {
				in.Close()
			}
		}},
		{"RemoteListener.Close", 1, func(c *misuseCall) {
			if ln, ok := c.listener(); ok {
				ln.Close()
			}
		}},

		{"sftp.NewClient", 1, func(c *misuseCall) {
			s := c.session()
			ctx, cancel := c.workCtx()
			defer cancel()
			var opts []sftp.Option
			if c.chance(20) && c.note("small") {
				opts = append(opts, sftp.WithPacketSize(512+c.r.IntN(32<<10)), sftp.WithConcurrency(1+c.r.IntN(8)))
			}
			sc, err := sftp.NewClient(ctx, s, opts...)
			if err != nil {
				if sc != nil {
					c.m.recordPanic(c.label, "NewClient returned an error and a client")
				}
				return
			}
			if steady := c.m.sessions[misuseSteady].Load(); s == steady && c.m.steadySFTPOn.Load() != steady {
				c.m.keep(sc)
				c.m.steadySFTPOn.Store(steady)
				if old := c.m.sftps[misuseSteadySFTP].Swap(sc); old != nil {
					old.Close()
				}
				return
			}
			adopt(c, c.m.sftps[misuseSteadySFTP+1:], sc)
		}},
		{"sftp.Use", 3, func(c *misuseCall) {
			if c.chance(3) && c.note("nil") {
				var nilClient *sftp.Client
				if _, err := nilClient.Stat("/"); err == nil {
					c.m.recordPanic(c.label, "Stat on a nil client worked")
				}
				return
			}
			sc := c.m.sftps[c.r.IntN(misuseSFTPs)].Load()
			if sc == nil {
				return
			}
			name := fmt.Sprintf("/f%d", c.r.IntN(4))
			switch c.r.IntN(6) {
			case 0:
				sc.Stat(name)
			case 1:
				sc.ReadDir("/")
			case 2:
				sc.Remove(name)
			case 3:
				sc.Rename(name, fmt.Sprintf("/f%d", c.r.IntN(4)))
			default:
				data := make([]byte, c.r.IntN(300<<10))
				for i := range data {
					data[i] = byte(i * 7)
				}
				f, err := sc.Create(name)
				if err != nil {
					return
				}
				defer f.Close()
				if _, err := f.Write(data); err != nil {
					return
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return
				}
				got, err := io.ReadAll(f) // the client's Close or the session's ends it
				if err == nil && bytes.Equal(got, data) {
					c.m.worked("sftp file read back")
				}
			}
		}},
		{"sftp.Close", 1, func(c *misuseCall) {
			if sc := c.m.sftps[misuseSteadySFTP+1+c.r.IntN(misuseSFTPs-1)].Load(); sc != nil {
				sc.Close()
			}
		}},

		{"DialContext", 2, func(c *misuseCall) {
			s := c.session()
			addr := c.m.target.Addr().String()
			if c.chance(10) && c.note("badaddr") {
				addr = "127.0.0.1:1"
			}
			withWorkCtx(c, func(ctx context.Context) {
				conn, err := s.DialContext(ctx, "tcp", addr)
				if err != nil {
					if conn != nil { // what every caller writes
						conn.Close()
					}
					return
				}
				c.m.worked("forwarded connection")
				if c.chance(50) && echoes(conn, time.Duration(50+c.r.IntN(450))*time.Millisecond) {
					c.m.worked("dialed connection echoed")
				}
				if old := c.m.conns[c.r.IntN(misuseConns)].Swap(&conn); old != nil {
					(*old).Close()
				}
				c.m.keep(conn)
			})
		}},
		{"Conn.IO", 4, func(c *misuseCall) {
			conn := c.conn()
			if conn == nil {
				return
			}
			d := time.Duration(c.r.IntN(20_000)) * time.Microsecond
			// Another goroutine's SetDeadline(time.Time{}) (case 3) can
			// take the deadline off this call while it waits, and a
			// read with no deadline waits for ever, as on any net.Conn:
			// the guard closes the connection after a while instead.
			defer c.guardAfter(time.Duration(200+c.r.IntN(800))*time.Millisecond, conn.Close)()
			switch c.r.IntN(5) {
			case 0:
				conn.SetWriteDeadline(time.Now().Add(d))
				conn.Write(make([]byte, 1+c.r.IntN(8<<10)))
			case 1:
				conn.SetReadDeadline(time.Now().Add(d))
				conn.Read(make([]byte, 1+c.r.IntN(8<<10)))
			case 2:
				conn.SetDeadline(time.Now().Add(-time.Second))
				conn.Read(make([]byte, 16))
			case 3:
				conn.SetDeadline(time.Time{})
			case 4:
				_ = conn.LocalAddr().String() + conn.RemoteAddr().String()
			}
		}},
		{"Conn.Close", 1, func(c *misuseCall) {
			if conn := c.conn(); conn != nil {
				if c.chance(50) {
					conn.(interface{ CloseWrite() error }).CloseWrite()
				} else {
					conn.Close()
				}
			}
		}},

		{"nil arguments", 1, func(c *misuseCall) {
			s := c.m.sessions[c.r.IntN(misuseSessions)].Load()
			switch c.r.IntN(4) {
			case 0:
				if c.note("NewForwarder nil session") {
					libssh.NewForwarder(misuseCancelled(), nil, 0, "127.0.0.1", 1)
				}
			case 1:
				if c.note("NewForwarder nil ctx") {
					if f, err := libssh.NewForwarder(misuseNilCtx, s, 0, "127.0.0.1", 1); err == nil {
						f.Close()
					}
				}
			case 2:
				if c.note("CommandContext nil ctx") {
					s.CommandContext(misuseNilCtx, "true").Run()
				}
			case 3:
				if c.note("AuthenticateCLI nil") {
					s.AuthenticateCLI(misuseCancelled(), nil, nil)
				}
			}
		}},
	}
	for _, op := range misuseOps {
		misuseTotalWeight += op.weight
	}
}

package sshtest

import (
	"context"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/golibssh/libssh"
)

// dialTimeout bounds the dial of a forwarding target, which runs while the
// session is locked.
const dialTimeout = 5 * time.Second

// openForward accepts a direct-tcpip channel when Options.Forwarding is on
// and the target answers, and relays between the two until both ends are
// done. A refused target refuses the channel.
func (c *conn) openForward(m *libssh.ServerMessage) bool {
	srv := c.srv
	if !srv.opts.Forwarding {
		return false
	}
	host, port := m.Destination()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	target, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		srv.opts.Logger.Info("sshtest: forwarding target", "addr", addr, "err", err)
		return false
	}
	ctx, cancel := context.WithCancel(srv.ctx)
	ch, err := m.AcceptChannel(nil)
	if err != nil {
		cancel()
		target.Close()
		srv.opts.Logger.Error("sshtest: accept forwarding channel", "err", err)
		return false
	}
	srv.goTracked(func() { relay(ctx, cancel, ch, target.(*net.TCPConn), srv.opts.Faults.ZeroWindow) })
	return true
}

// relay copies both ways between a channel and the connection it carries
// (direct-tcpip and forwarded-tcpip alike), passing each side's EOF on. The
// client closing the channel ends the connection once what the client sent
// before has been written to it, as sshd does; the server closing ends it
// at once. With the ZeroWindow fault it never reads the channel, so the
// client's window runs down.
func relay(ctx context.Context, cancel context.CancelFunc, ch *libssh.Channel, target *net.TCPConn, zeroWindow bool) {
	defer cancel()
	stop := context.AfterFunc(ctx, func() { target.Close() })
	defer stop()
	up := make(chan struct{})
	go func() { // target -> client
		io.Copy(ch, reader{target})
		ch.CloseWrite()
		close(up)
	}()
	if !zeroWindow {
		// client -> target, up to the client's EOF
		if _, err := io.Copy(writer{target}, ch); err != nil {
			// The target takes no more (it closed or reset) or the
			// channel failed: end both, as sshd does, rather than leave
			// the client writing into a window nobody reads.
			// (The channel first: a client that stopped reading would
			// keep the copy to it waiting.)
			target.Close()
			ch.Close()
			<-up
			return
		}
		target.CloseWrite()
	}
	ch.Wait(ctx) // until the client closes the channel
	target.CloseWrite()
	ch.Close()
	target.Close()
	<-up
}

// reader and writer hide the socket's ReadFrom and WriteTo, so that io.Copy
// uses a plain buffer.
type reader struct{ io.Reader }
type writer struct{ io.Writer }

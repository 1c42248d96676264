package sshtest

import (
	"context"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
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
	var cbs *callbacks.ChannelCallbacks
	if srv.opts.Faults.ZeroWindow {
		// Nothing reads the channel: its close ends the relay.
		cbs = &callbacks.ChannelCallbacks{OnClose: cancel}
	}
	ch, err := m.AcceptChannel(cbs)
	if err != nil {
		cancel()
		target.Close()
		srv.opts.Logger.Error("sshtest: accept forwarding channel", "err", err)
		return false
	}
	srv.goTracked(func() { relay(ctx, cancel, ch, target.(*net.TCPConn), srv.opts.Faults.ZeroWindow) })
	return true
}

// relay copies both ways, as relayReverse does: the client closing the
// channel ends the connection once what the client sent before has been
// written to it. With the ZeroWindow fault it never reads the channel, and
// the relay ends when the client closes it or the server closes.
func relay(ctx context.Context, cancel context.CancelFunc, ch *libssh.Channel, target *net.TCPConn, zeroWindow bool) {
	if !zeroWindow {
		relayReverse(ctx, cancel, ch, target)
		return
	}
	defer cancel()
	stop := context.AfterFunc(ctx, func() { target.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	go func() { // target -> client
		io.Copy(ch, reader{target})
		ch.CloseWrite()
		done <- struct{}{}
	}()
	go func() { // client -> target: never read, the client's window runs down
		<-ctx.Done()
		target.CloseWrite()
		done <- struct{}{}
	}()
	<-done
	<-done
	ch.Close()
	target.Close()
}

// reader and writer hide the socket's ReadFrom and WriteTo, so that io.Copy
// uses a plain buffer.
type reader struct{ io.Reader }
type writer struct{ io.Writer }

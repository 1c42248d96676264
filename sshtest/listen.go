package sshtest

import (
	"context"
	"net"
	"strconv"

	"github.com/golibssh/libssh"
)

// forwardRequest answers a client's "tcpip-forward" and
// "cancel-tcpip-forward" when Options.Forwarding is on: the server listens
// on 127.0.0.1 (whatever address the client named), at the port asked for
// or a free one for port 0, and opens a "forwarded-tcpip" channel to the
// client for each connection. A port it cannot listen on is refused, and so
// is a cancel of a port it does not listen on for this client.
func (c *conn) forwardRequest(m *libssh.ServerMessage) bool {
	srv := c.srv
	kind, address, port := m.ForwardRequest()
	if !srv.opts.Forwarding || !c.authed || kind == "" {
		return false
	}
	if kind == "cancel-tcpip-forward" {
		c.mu.Lock()
		ln := c.listeners[port]
		delete(c.listeners, port)
		c.mu.Unlock()
		if ln == nil {
			return false
		}
		ln.Close()
		return m.ReplyForwardSuccess(0) == nil
	}
	c.mu.Lock()
	_, taken := c.listeners[port]
	c.mu.Unlock()
	if port != 0 && taken {
		return false
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		srv.opts.Logger.Info("sshtest: tcpip-forward", "port", port, "err", err)
		return false
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	if port == 0 {
		port = bound
	}
	// Registered before the answer, so that a connection closing meanwhile
	// (closeListeners) closes this port too, or refuses it here.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ln.Close()
		return false
	}
	if c.listeners == nil {
		c.listeners = map[int]net.Listener{}
	}
	c.listeners[port] = ln
	c.mu.Unlock()
	if err := m.ReplyForwardSuccess(bound); err != nil {
		c.mu.Lock()
		if c.listeners[port] == ln {
			delete(c.listeners, port)
		}
		c.mu.Unlock()
		ln.Close()
		return false
	}
	srv.goTracked(func() { c.serveForward(ln, address, port) })
	return true
}

// serveForward accepts connections on ln until it is closed, and relays
// each through a forwarded-tcpip channel of the connection's session.
func (c *conn) serveForward(ln net.Listener, address string, port int) {
	srv := c.srv
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		srv.goTracked(func() {
			tcp := nc.(*net.TCPConn)
			origin := tcp.RemoteAddr().(*net.TCPAddr)
			// The request may have come before handshake knew the
			// session: AcceptSession runs the handler while it returns.
			select {
			case <-c.ready:
			case <-srv.ctx.Done():
				tcp.Close()
				return
			}
			c.mu.Lock()
			sess := c.sess
			c.mu.Unlock()
			if sess == nil { // the handshake failed
				tcp.Close()
				return
			}
			ctx, cancel := context.WithCancel(srv.ctx)
			ch, err := sess.NewChannel()
			if err == nil {
				err = ch.OpenReverseForward(ctx, address, port, origin.IP.String(), origin.Port)
			}
			if err != nil {
				cancel()
				if ch != nil {
					ch.Close()
				}
				tcp.Close()
				if srv.ctx.Err() == nil {
					srv.opts.Logger.Info("sshtest: forwarded-tcpip channel", "port", port, "err", err)
				}
				return
			}
			relay(ctx, cancel, ch, tcp, false)
		})
	}
}

// closeListeners stops the connection's forwarded ports, and forwards no
// more.
func (c *conn) closeListeners() {
	c.mu.Lock()
	lns := c.listeners
	c.listeners = nil
	c.closed = true
	c.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
}

package libssh

// The names in this file exist for programs ported from the Julia package
// LibSSH.jl, whose API this package follows. Each has a Go equivalent, named
// in its doc comment, that new code should use; the package documentation's
// "Coming from LibSSH.jl" section lists them. They are kept, and work as
// documented, but they are not where the Go API grows.

import (
	"context"
	"errors"
	"net"
	"runtime"

	"github.com/golibssh/libssh/lib"
)

// Wait is LibSSH.jl's wait(session): it waits until the session has
// processed input from the server (the next socket event), the context
// ends, or the session closes. It is a building block for polling loops,
// which Go code does not need: every call waits for its own reply, and
// callbacks fire without it. It does not wait for the session to end; use
// [Session.Done] for that.
func (s *Session) Wait(ctx context.Context) error {
	st, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(s)
	if err := st.lockCtx(ctx); err != nil {
		return err
	}
	if err := st.usableLocked(); err != nil {
		st.unlock()
		return err
	}
	return st.waitLocked(ctx)
}

// LastError is LibSSH.jl's get_error: libssh's message for the session's
// last error, or "" (after Close, and in a callback of another session).
// Go code reads the error a call returns instead; its [*Error] holds the
// same message, copied when the call failed.
//
// Uses ssh_get_error.
func (s *Session) LastError() string {
	msg := ""
	s.inspect(func(st *sessionState) {
		if !st.p.IsNil() {
			msg = lib.GetError(st.p)
		}
	})
	return msg
}

// WithChannel is LibSSH.jl's do-block form of a channel: it makes a channel
// with [Session.NewChannel], calls f with it and closes it, whatever f
// returns. It returns f's error, or else Close's. Go code calls NewChannel
// and defers Close.
func (s *Session) WithChannel(f func(*Channel) error) error {
	if f == nil {
		return errors.New("libssh: WithChannel of a nil function")
	}
	ch, err := s.NewChannel()
	if err != nil {
		return err
	}
	err = f(ch)
	if cerr := ch.Close(); err == nil {
		err = cerr
	}
	return err
}

// IsAssigned is LibSSH.jl's isassigned(channel): whether the channel still
// holds its libssh channel, false after Close, or after its session was
// closed or disconnected. Go code uses [Channel.IsOpen], or the error of
// the call it makes.
func (ch *Channel) IsAssigned() bool {
	assigned := false
	ch.inspect(func(c *chanState) { assigned = !c.p.IsNil() && !c.closeQueued })
	return assigned
}

// WithForwarder is LibSSH.jl's do-block form of a Forwarder: it makes one
// with [NewForwarder], calls f with it and closes it, whatever f returns.
// It returns f's error, or else Close's. A nil f is an error, and no
// forwarder is made. Go code calls NewForwarder and defers Close.
func WithForwarder(ctx context.Context, s *Session, localPort int, remoteHost string, remotePort int, f func(*Forwarder) error, opts ...ForwarderOption) error {
	if f == nil {
		return errors.New("libssh: WithForwarder with a nil function")
	}
	fw, err := NewForwarder(ctx, s, localPort, remoteHost, remotePort, opts...)
	if err != nil {
		return err
	}
	err = f(fw)
	if cerr := fw.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr // f closing fw itself is fine
	}
	return err
}

// Hexa is LibSSH.jl's get_hexa: the SHA256 hash of the key as
// colon-separated hex bytes. Go code uses [PublicKey.Fingerprint], the form
// OpenSSH prints.
func (k *PublicKey) Hexa() string {
	if k == nil {
		return ""
	}
	return k.hexa
}

package libssh

// This file holds every function of the package whose signature names a
// type of package lib: the escape hatches to libssh calls this package does
// not wrap. Package lib carries no compatibility promise; see "Low-level
// access" in the package documentation.

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/golibssh/libssh/lib"
)

// WrapSession wraps a session made with the low-level package lib, and
// switches it to nonblocking mode (this package drives libssh that way). An
// owned wrapper frees the session on Close; a wrapper that is not owned never
// frees or disconnects it (the caller must, after closing the wrapper).
// A session that is not connected yet connects with [Session.Connect], which
// dials the host and port set on it; one that is already connected keeps its
// socket and is then waited on with poll(2), which holds an OS thread while
// waiting. Either way no host key is accepted yet: the wrapper has the
// default host key policy, so call [Session.VerifyHost] before the Userauth
// methods. The wrapper sets the session's counters (ssh_set_counters) for
// its own use until it is closed: do not set them meanwhile. A session has
// one wrapper at a time: wrapping it again (or wrapping one that
// [NewSession] made) is refused.
//
// Package lib carries no compatibility promise (see "Low-level access").
func WrapSession(p lib.Session, owned bool) (*Session, error) {
	if p.IsNil() {
		return nil, errors.New("libssh: WrapSession of a NULL session")
	}
	if _, dup := wrapped.LoadOrStore(p, struct{}{}); dup {
		return nil, errors.New("libssh: WrapSession: the session has a wrapper already (close it first)")
	}
	cfg := defaultConfig()
	st := newState(p, owned, cfg)
	s := wrap(st)
	st.lock()
	lib.SetBlocking(p, 0)
	st.readPropertiesLocked()
	var err error
	if lib.IsConnected(p) == 1 {
		err = st.adoptConnectionLocked()
	}
	st.unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// adoptConnectionLocked takes over the socket of a session libssh connected
// itself. On failure it leaves the caller's session alone.
func (st *sessionState) adoptConnectionLocked() error {
	fd := lib.GetFd(st.p)
	pl, err := newFDPoller(fd)
	if err == nil {
		st.setPollerLocked(pl)
		st.useSocketLocked(fd)
		st.setConnectedLocked()
		err = st.startIOLocked()
	}
	if err != nil {
		st.forgetReadaheadLocked() // the caller's session reads its socket on its own again
		st.owned = false           // Close must not free or disconnect what it could not adopt
	}
	return err
}

// WithLib calls f with the session locked and its libssh session, for
// libssh calls this package does not wrap (through package lib). f must
// not keep p, free it, or call methods of s or its channels; libssh runs
// nonblocking, so a call may answer SSH_AGAIN. Authentication calls made
// this way bypass the host key guard of the Userauth methods (see "Host
// keys"). It returns f's error, [ErrClosed] after Close, or
// [ErrInCallback] in a callback.
//
// Package lib carries no compatibility promise (see "Low-level access").
func (s *Session) WithLib(f func(p lib.Session) error) error {
	st, err := s.state()
	if err != nil {
		return err
	}
	if f == nil {
		return errors.New("libssh: WithLib of a nil function")
	}
	if err := refuseInCallback(); err != nil {
		return err
	}
	defer runtime.KeepAlive(s)
	st.lock()
	defer st.unlock()
	if st.p.IsNil() {
		return ErrClosed
	}
	defer st.readPropertiesLocked() // f may have changed options
	return f(st.p)
}

// WrapChannel wraps a channel of session s made with the low-level package
// lib. An owned wrapper frees the channel on Close; one that is not owned
// leaves it to the caller, who may free it only after closing the wrapper
// (and never after closing or disconnecting s, which frees it). A channel
// can have one wrapper at a time.
//
// Package lib carries no compatibility promise (see "Low-level access").
func WrapChannel(p lib.Channel, s *Session, owned bool) (*Channel, error) {
	if p.IsNil() {
		return nil, errors.New("libssh: WrapChannel of a NULL channel")
	}
	st, err := s.begin()
	if err != nil {
		return nil, fmt.Errorf("libssh: WrapChannel needs the channel's session: %w", err)
	}
	defer st.unlock()
	if err := st.usableLocked(); err != nil {
		return nil, err
	}
	if lib.ChannelGetSession(p) != st.p {
		return nil, errors.New("libssh: WrapChannel: the channel belongs to another session")
	}
	for c := range st.channels {
		if c.p == p {
			return nil, errors.New("libssh: WrapChannel: the channel is wrapped already")
		}
	}
	ch, err := st.adoptChannelLocked(s, p, owned)
	if err == nil {
		ch.c.opened = lib.ChannelIsOpen(p) == 1
	}
	return ch, err
}

// WithLib calls f with the session locked and the channel's libssh channel,
// for libssh calls this package does not wrap (through package lib). f must
// not keep p, free it, or call methods of the channel or its session. It
// returns f's error, an error matching [ErrClosed] once the channel or
// its session was closed, or [ErrInCallback] in a callback.
//
// Package lib carries no compatibility promise (see "Low-level access").
func (ch *Channel) WithLib(f func(p lib.Channel) error) error {
	if f == nil {
		return errors.New("libssh: WithLib of a nil function")
	}
	return ch.locked(func(c *chanState) error {
		defer c.st.flushLocked()
		return f(c.p)
	})
}

// PublicKeyOf returns the public half of key, a key made with package lib
// (for example a server's host key; see package sshtest). The PublicKey is
// a copy: key may be freed afterwards.
//
// Package lib carries no compatibility promise (see "Low-level access").
func PublicKeyOf(key lib.Key) (*PublicKey, error) {
	if key.IsNil() {
		return nil, errors.New("libssh: PublicKeyOf a NULL key")
	}
	return publicKeyOf(key)
}

// Lib returns the libssh message, for the ssh_message_* functions of
// package lib that [ServerMessage] has no method for. It is valid only
// during the handler call, on the handler's goroutine; otherwise, and for
// a nil or zero ServerMessage, it returns NULL.
//
// Package lib carries no compatibility promise (see "Low-level access").
func (m *ServerMessage) Lib() lib.Message {
	if !m.live() {
		return lib.Message{}
	}
	return m.m
}

// LibSession returns the server-side libssh session the message came on,
// for the lib calls that take a session. It is valid only during the
// handler call, on the handler's goroutine; otherwise, and for a nil or
// zero ServerMessage, it returns NULL.
//
// Package lib carries no compatibility promise (see "Low-level access").
func (m *ServerMessage) LibSession() lib.Session {
	if !m.live() {
		return lib.Session{}
	}
	return m.s.st.p
}

package libssh

import "github.com/golibssh/libssh/lib"

// --- ServerMessage: the libssh message and session (helper-server's block) ---
//
// Package lib carries no compatibility promise: its declarations follow the
// installed libssh headers and may change with any release of this module.

// Lib returns the libssh message, for the ssh_message_* functions of
// package lib that [ServerMessage] has no method for. It is valid only
// during the handler call, on the handler's goroutine; otherwise, and for
// a nil or zero ServerMessage, it returns NULL.
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
func (m *ServerMessage) LibSession() lib.Session {
	if !m.live() {
		return lib.Session{}
	}
	return m.s.st.p
}

// Package callbacks defines the Go functions that libssh's channel
// callbacks call ([ChannelCallbacks], set with
// [github.com/golibssh/libssh.Channel.SetCallbacks] or
// [github.com/golibssh/libssh.ServerMessage.AcceptChannel]) and the error a
// panic in one of them becomes ([PanicError]).
package callbacks

import "fmt"

// ChannelCallbacks holds Go functions for libssh 0.10's 15 channel
// callbacks. A nil field leaves libssh's default behaviour (for a server-side
// request: libssh's own answer), not "deny".
//
// The functions run inside whatever libssh call is processing the session's
// packets, with the session locked, on that call's goroutine. They must
// return quickly and must not call libssh or package libssh (for this session
// or its channels) beyond what that package's documentation ("Callbacks")
// allows: copy what they need and signal. A panic is recovered, so that it
// never unwinds through libssh, and makes the channel unusable (its later
// calls return a [*PanicError]); the callback then answers as if it had
// refused or consumed nothing.
type ChannelCallbacks struct {
	// OnData receives the channel's buffered data for one stream: all of
	// it, not only the newest packet. It returns how many bytes it
	// consumed; the rest stays readable (and is offered again with the
	// next packet). data is valid only during the call.
	OnData func(data []byte, isStderr bool) (consumed int)
	// OnEOF: the remote end sent EOF.
	OnEOF func()
	// OnClose: the remote end closed the channel.
	OnClose func()
	// OnSignal: the client asked for a signal to be sent (server side).
	OnSignal func(signal string)
	// OnExitStatus: the remote command's exit status.
	OnExitStatus func(status int)
	// OnExitSignal: the remote command was killed by a signal ("TERM").
	// libssh 0.10 reports this only through the callback.
	OnExitSignal func(signal string, coreDumped bool, errmsg, lang string)
	// OnPtyRequest: the client asks for a pty (server side); true accepts.
	OnPtyRequest func(term string, width, height, pxWidth, pxHeight int) bool
	// OnShellRequest: the client asks for a shell (server side).
	OnShellRequest func() bool
	// OnAuthAgentReq: the client asks for agent forwarding (server side);
	// having the callback makes libssh accept the request.
	OnAuthAgentReq func()
	// OnX11Req: the client asks for X11 forwarding (server side).
	OnX11Req func(singleConnection bool, authProtocol, authCookie string, screen uint32)
	// OnPtyWindowChange: the client's terminal changed size (server side).
	OnPtyWindowChange func(width, height, pxWidth, pxHeight int) bool
	// OnExecRequest: the client asks to run command (server side).
	OnExecRequest func(command string) bool
	// OnEnvRequest: the client asks to set an environment variable
	// (server side).
	OnEnvRequest func(name, value string) bool
	// OnSubsystemRequest: the client asks for a subsystem (server side).
	OnSubsystemRequest func(subsystem string) bool
	// OnWriteWontblock: libssh saw the socket writable with nothing to
	// send; bytes is the channel's remote window (possibly 0). In libssh
	// 0.10 it fires for every channel of the session, and only when a
	// poll happens to find nothing left to send (writes send their data
	// without such a poll), so it is a hint, not a "window opened" event.
	OnWriteWontblock func(bytes uint32)

	// OnOpenResponse and OnRequestResponse are libssh 0.11's: the server
	// answered the channel open, or a request. Package libssh installs
	// libssh 0.10's callback struct, so setting either fails with
	// [github.com/golibssh/libssh.ErrUnsupported].
	OnOpenResponse    func(isSuccess bool)
	OnRequestResponse func()
}

// PanicError wraps a panic value recovered in a callback.
type PanicError struct{ Value any }

func (e *PanicError) Error() string {
	return fmt.Sprintf("callbacks: a callback panicked: %v", e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

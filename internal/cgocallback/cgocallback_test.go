package cgocallback

import "testing"

// The rest is tested through package callbacks, against sshd.

func TestMaskHasOneBitPerSetField(t *testing.T) {
	all := funcs{
		OnData: func([]byte, bool) int { return 0 }, OnEOF: func() {}, OnClose: func() {}, OnSignal: func(string) {},
		OnExitStatus: func(int) {}, OnExitSignal: func(string, bool, string, string) {},
		OnPtyRequest:   func(string, int, int, int, int) bool { return true },
		OnShellRequest: func() bool { return true }, OnAuthAgentReq: func() {},
		OnX11Req:          func(bool, string, string, uint32) {},
		OnPtyWindowChange: func(int, int, int, int) bool { return true },
		OnExecRequest:     func(string) bool { return true }, OnEnvRequest: func(string, string) bool { return true },
		OnSubsystemRequest: func(string) bool { return true }, OnWriteWontblock: func(uint32) {},
	}
	some := funcs{OnData: all.OnData, OnExitStatus: all.OnExitStatus}
	if m := [3]uint{uint(mask(&funcs{})), uint(mask(&some)), uint(mask(&all))}; m != [3]uint{0, 1<<0 | 1<<4, 1<<15 - 1} {
		t.Errorf("masks of none, OnData+OnExitStatus, all 15 = %#x, want 0, 0x11, 0x7fff (a nil field keeps libssh's default)", m)
	}
}

func TestUnknownIDIsDropped(t *testing.T) {
	id := handles.register(&entry{})
	handles.remove(id)
	called := false
	if call(id, func(*funcs) { called = true }) || called {
		t.Error("a callback for a removed registration ran")
	}
}

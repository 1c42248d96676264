package lib_test

import (
	"bytes"
	"syscall"
	"testing"

	"github.com/golibssh/libssh/lib"
	"golang.org/x/sys/unix"
)

// socketPair returns a nonblocking end for libssh's side and a blocking end
// for the peer's, closed when t ends.
func socketPair(t *testing.T) (ours, peer int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	return fds[0], fds[1]
}

// readable reports whether poll(2) itself finds input on fd.
func readable(t *testing.T, fd int) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestReadahead: libssh's 4 KiB reads of a registered socket are served
// from one larger read, poll reports input that waits in the buffer (which
// poll(2) itself cannot see), and forgetting the buffer drops its input.
func TestReadahead(t *testing.T) {
	fd, peer := socketPair(t)
	id := lib.ReadaheadRegister(fd)
	if id == 0 {
		t.Fatal("no read-ahead for this libssh: its recv, poll and close entries were not found")
	}
	defer lib.ReadaheadForget(fd, id)
	sent := make([]byte, 10000)
	for i := range sent {
		sent[i] = byte(i * 7)
	}
	if _, err := syscall.Write(peer, sent); err != nil {
		t.Fatal(err)
	}
	fills0, served0, _ := lib.ReadaheadStats()
	got := make([]byte, 0, len(sent))
	buf := make([]byte, 4096)
	n, err := lib.ReadaheadRecv(fd, buf)
	if err != nil || n != 4096 {
		t.Fatalf("first read: %d, %v; want 4096 bytes", n, err)
	}
	got = append(got, buf[:n]...)
	if b := lib.ReadaheadBuffered(fd); b != len(sent)-4096 {
		t.Fatalf("%d bytes buffered after the first read, want %d", b, len(sent)-4096)
	}
	if readable(t, fd) {
		t.Fatal("the socket still has input: the first read did not take it all")
	}
	if ev, err := lib.ReadaheadPoll(fd, 0); err != nil || ev&unix.POLLIN == 0 {
		t.Fatalf("libssh's poll with input buffered: events %#x, %v; want POLLIN", ev, err)
	}
	for len(got) < len(sent) {
		n, err := lib.ReadaheadRecv(fd, buf)
		if err != nil || n == 0 {
			t.Fatalf("read at %d: %d bytes, %v", len(got), n, err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("the bytes read are not the bytes sent")
	}
	fills, served, _ := lib.ReadaheadStats()
	if fills-fills0 != 1 || served-served0 != 3 {
		t.Errorf("%d fills and %d reads served, want 1 and 3", fills-fills0, served-served0)
	}
	if ev, err := lib.ReadaheadPoll(fd, 0); err != nil || ev != 0 {
		t.Fatalf("libssh's poll with nothing buffered or sent: events %#x, %v; want none", ev, err)
	}
	if _, err := lib.ReadaheadRecv(fd, buf); err != syscall.EAGAIN {
		t.Fatalf("read with nothing buffered or sent: %v, want EAGAIN", err)
	}

	// Forgetting: input in the buffer goes with it, and only the
	// registration's own id can forget it.
	if _, err := syscall.Write(peer, sent); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.ReadaheadRecv(fd, buf); err != nil {
		t.Fatal(err)
	}
	lib.ReadaheadForget(fd, id+1)
	if b := lib.ReadaheadBuffered(fd); b != len(sent)-4096 {
		t.Fatalf("another id's forget changed the buffer: %d bytes, want %d", b, len(sent)-4096)
	}
	lib.ReadaheadForget(fd, id)
	if b := lib.ReadaheadBuffered(fd); b != 0 {
		t.Fatalf("%d bytes buffered after forgetting", b)
	}
	if _, err := lib.ReadaheadRecv(fd, buf); err != syscall.EAGAIN {
		t.Fatalf("read after forgetting: %v, want EAGAIN (the buffered input is dropped)", err)
	}
	if _, _, live := lib.ReadaheadStats(); live != 0 {
		t.Errorf("%d buffers live after forgetting the only one", live)
	}
}

// TestReadaheadNewRegistration: registering a descriptor again (its number
// reused after a close that bypassed libssh) drops the stale input.
func TestReadaheadNewRegistration(t *testing.T) {
	fd, peer := socketPair(t)
	old := lib.ReadaheadRegister(fd)
	if old == 0 {
		t.Fatal("no read-ahead for this libssh")
	}
	if _, err := syscall.Write(peer, make([]byte, 8192)); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.ReadaheadRecv(fd, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	id := lib.ReadaheadRegister(fd)
	if id == 0 || id == old {
		t.Fatalf("second registration: id %d (first %d)", id, old)
	}
	if b := lib.ReadaheadBuffered(fd); b != 0 {
		t.Fatalf("a new registration kept %d stale bytes", b)
	}
	lib.ReadaheadForget(fd, old) // the old owner's late forget
	if _, _, live := lib.ReadaheadStats(); live != 1 {
		t.Fatalf("%d buffers live, want the new registration's", live)
	}
	lib.ReadaheadForget(fd, id)
	if _, _, live := lib.ReadaheadStats(); live != 0 {
		t.Fatalf("%d buffers live after forgetting", live)
	}
}

// TestReadaheadLibsshClose: libssh's own close of a socket drops its buffer
// (before the number can be reused).
func TestReadaheadLibsshClose(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd, peer := fds[0], fds[1]
	defer syscall.Close(peer)
	if lib.ReadaheadRegister(fd) == 0 {
		syscall.Close(fd)
		t.Fatal("no read-ahead for this libssh")
	}
	if _, err := syscall.Write(peer, []byte("not a banner\r\n")); err != nil {
		t.Fatal(err)
	}
	s := lib.New()
	if s.IsNil() {
		t.Fatal("ssh_new failed")
	}
	if lib.OptionsSetString(s, lib.SSH_OPTIONS_HOST, "localhost") != lib.SSH_OK ||
		lib.OptionsSetInt(s, lib.SSH_OPTIONS_FD, fd) != lib.SSH_OK {
		t.Fatal("SSH_OPTIONS_FD refused")
	}
	lib.SetBlocking(s, 0)
	lib.Connect(s) // takes the socket; fails on the banner, or waits for more
	lib.Free(s)    // closes the socket through libssh's close
	// Asked, not closed again: its number may belong to something else now
	// (nothing else in this test opens descriptors meanwhile).
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		syscall.Close(fd)
		t.Fatalf("the socket after ssh_free: %v, want EBADF (libssh closed it)", err)
	}
	if _, _, live := lib.ReadaheadStats(); live != 0 {
		t.Fatalf("%d buffers live after libssh closed the socket", live)
	}
}

package sftp

import (
	"bufio"
	"io"
	"sync"

	"github.com/golibssh/libssh"
)

// pipeBuffer is the size of the buffers between pkg/sftp and the channel.
const pipeBuffer = 256 << 10

// newReader buffers the channel's data: pkg/sftp reads each packet's
// length, then its body, and a read of the channel costs a turn of the
// session's engine.
func newReader(ch *libssh.Channel) io.Reader { return bufio.NewReaderSize(ch, pipeBuffer) }

// chanWriter sends what pkg/sftp writes to the channel from a goroutine of
// its own, in large writes: pkg/sftp writes each packet in two parts (its
// header, then its data), one packet at a time, and a write to the channel
// waits until libssh has sent the previous one. Writes gather in a buffer
// while the goroutine sends, so that the requests a transfer keeps in
// flight go out together, as the window allows. Write waits while more
// than pipeBuffer bytes are waiting; an error of the channel is returned
// by the next Write.
type chanWriter struct {
	ch   *libssh.Channel
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte // waiting to be sent
	err  error  // the channel's error, for the next Write
	stop bool   // Close was called
	done chan struct{}
}

func newWriter(ch *libssh.Channel) *chanWriter {
	w := &chanWriter{ch: ch, done: make(chan struct{})}
	w.cond.L = &w.mu
	go w.send()
	return w
}

func (w *chanWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.buf) >= pipeBuffer && w.err == nil && !w.stop {
		w.cond.Wait()
	}
	switch {
	case w.err != nil:
		return 0, w.err
	case w.stop:
		return 0, io.ErrClosedPipe
	}
	w.buf = append(w.buf, b...)
	w.cond.Broadcast()
	return len(b), nil
}

// send writes what gathered to the channel until Close or an error.
func (w *chanWriter) send() {
	defer close(w.done)
	var spare []byte
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.buf) == 0 && !w.stop {
			w.cond.Wait()
		}
		if w.stop {
			return
		}
		out := w.buf
		w.buf = spare[:0]
		w.mu.Unlock()
		_, err := w.ch.Write(out)
		w.mu.Lock()
		spare = out
		if err != nil {
			w.err = err
			w.cond.Broadcast()
			return
		}
		w.cond.Broadcast()
	}
}

// Close closes the channel (which ends a write in progress) and waits for
// the goroutine; what was still waiting is dropped.
func (w *chanWriter) Close() error {
	w.mu.Lock()
	w.stop = true
	w.cond.Broadcast()
	w.mu.Unlock()
	err := w.ch.Close()
	<-w.done
	return err
}

// Package delayrelay makes a slow link on loopback for benchmarks: a relay
// on 127.0.0.1 that forwards each TCP connection to a target and holds the
// bytes of each direction for a fixed one-way delay (make bench-link).
//
// Each direction reads its source into chunks stamped with the time they
// are due, and writes each chunk to the destination once due; an end of
// file arrives the same way, as a half-close. There is no rate limit, but
// as on a real link a direction keeps at most a window of bytes in flight:
// bytes count from when they are read until one delay after they are
// written (the acknowledgement's way back), so that a bulk transfer runs at
// window / round-trip time, as TCP does once its window is fully open. Slow
// start and loss are not modelled. The relay's sockets keep the kernel's
// autotuned buffers, so that the relay is not the bottleneck.
package delayrelay

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

const (
	maxRead   = 256 << 10 // bytes read at once
	maxChunks = 1024      // reads in flight
)

// Relay is a listening relay. Close it when done.
type Relay struct {
	ln     net.Listener
	target string
	delay  time.Duration
	window int // bytes in flight per direction

	mu     sync.Mutex
	conns  map[net.Conn]bool // the clients' connections; nil once closed
	active sync.WaitGroup
}

// Start listens on a free port of 127.0.0.1 and relays each connection to
// target, adding oneWay to each direction (the round-trip time grows by
// twice that) and keeping at most window bytes in flight per direction.
func Start(target string, oneWay time.Duration, window int) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, target: target, delay: oneWay, window: max(1, window), conns: map[net.Conn]bool{}}
	r.active.Add(1)
	go r.serve()
	return r, nil
}

// Addr is the address the relay listens on, "127.0.0.1:PORT".
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Close stops listening, closes every relayed connection, and returns once
// the relay's goroutines have ended.
func (r *Relay) Close() error {
	err := r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.active.Wait()
	return err
}

func (r *Relay) serve() {
	defer r.active.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.active.Add(1)
		go r.relay(c.(*net.TCPConn))
	}
}

func (r *Relay) relay(client *net.TCPConn) {
	defer r.active.Done()
	defer client.Close()
	r.mu.Lock()
	open := r.conns != nil
	if open {
		r.conns[client] = true // closing it ends both directions
	}
	r.mu.Unlock()
	if !open {
		return
	}
	defer func() {
		r.mu.Lock()
		delete(r.conns, client)
		r.mu.Unlock()
	}()
	c, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	server := c.(*net.TCPConn)
	defer server.Close()
	done := make(chan struct{})
	go func() {
		r.pipe(client, server)
		close(done)
	}()
	r.pipe(server, client)
	<-done
}

// chunk is a span of a direction's ring: off and n, bytes read; or, with n
// zero, the end of the stream with err.
type chunk struct {
	off, n int
	err    error
	due    time.Time // when to write it; once written, when it is acknowledged
}

// pipe copies src to dst with the delay and window of r, and returns once
// all is written. An end of file half-closes dst; another error closes both.
//
// The bytes in flight are a span of ring, a buffer of the window's size:
// the reader fills it from head on, and the writer's acknowledgements free
// it from the tail in the same order.
func (r *Relay) pipe(dst, src *net.TCPConn) {
	ring := make([]byte, r.window)
	queue := make(chan chunk, maxChunks+1) // read, to be written
	acks := make(chan chunk, maxChunks)    // written, to be acknowledged
	go func() {
		defer close(acks)
		for c := range queue {
			time.Sleep(time.Until(c.due))
			if c.n == 0 {
				if errors.Is(c.err, io.EOF) {
					dst.CloseWrite()
				} else {
					dst.Close()
				}
				return
			}
			if _, err := dst.Write(ring[c.off : c.off+c.n]); err != nil {
				src.Close()
				return
			}
			c.due = time.Now().Add(r.delay)
			acks <- c
		}
	}()
	defer func() {
		close(queue)
		for range acks { // until the writer has ended
		}
	}()
	head, inFlight, chunks := 0, 0, 0
	for {
		for inFlight == r.window || chunks == maxChunks {
			c, ok := <-acks
			if !ok {
				return
			}
			time.Sleep(time.Until(c.due))
			inFlight, chunks = inFlight-c.n, chunks-1
		}
		n, err := src.Read(ring[head : head+min(r.window-inFlight, r.window-head, maxRead)])
		if n > 0 {
			queue <- chunk{off: head, n: n, due: time.Now().Add(r.delay)}
			head, inFlight, chunks = (head+n)%r.window, inFlight+n, chunks+1
		}
		if err != nil {
			queue <- chunk{err: err, due: time.Now().Add(r.delay)}
			return
		}
	}
}

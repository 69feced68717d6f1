package main

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Log buffering: every request writes a log line, and a write(2) per line
// costs more than the rest of a cached /api/private. So log lines are
// collected in memory and written to stderr in batches, by one goroutine.
const (
	// logFlushInterval is the longest a line waits before it is written.
	logFlushInterval = 100 * time.Millisecond
	// logFlushSize: a batch this large is written at once.
	logFlushSize = 64 << 10
	// logCloseTimeout bounds how long shutdown waits for stderr to take
	// the last lines.
	logCloseTimeout = 5 * time.Second
)

// logBufferMax bounds what waits: when stderr does not keep up (a stalled
// pipe, a full disk), lines beyond it are dropped and counted, rather than
// making requests wait. 4 MiB is about 0.4 s of lines at this machine's
// highest request rate. (A variable only so that a test can make it small.)
var logBufferMax = 4 << 20

// logWriter is an io.Writer for the JSON log handler that never blocks on
// its destination: Write copies the line into a bounded buffer, and a
// goroutine writes the buffer out at most logFlushInterval after its first
// line (sooner when logFlushSize is reached). Each Write must be one whole
// line (slog's handlers write each record with one Write), so a dropped
// Write is a dropped line. Close writes what is left; after it, Write
// writes through.
type logWriter struct {
	out   io.Writer
	outMu sync.Mutex // serializes writes to out

	mu      sync.Mutex
	buf     []byte // lines waiting, appended by Write
	spare   []byte // the buffer being written out, reused
	closed  bool
	max     int
	dropped atomic.Uint64

	kick    chan struct{} // a first line is waiting, or the buffer is full
	done    chan struct{} // Close was called
	stopped chan struct{} // the flushing goroutine has ended
}

// newLogWriter starts a logWriter for out holding at most max bytes.
func newLogWriter(out io.Writer, max int) *logWriter {
	l := &logWriter{out: out, max: max, kick: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go l.run()
	return l
}

// Write buffers p, one log line, or drops it if the buffer is full. It
// never fails: a logger cannot do anything useful with an error.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.outMu.Lock()
		defer l.outMu.Unlock()
		return l.out.Write(p)
	}
	if len(l.buf)+len(p) > l.max {
		l.mu.Unlock()
		l.dropped.Add(1)
		return len(p), nil
	}
	first := len(l.buf) == 0
	l.buf = append(l.buf, p...)
	full := len(l.buf) >= logFlushSize && len(l.buf)-len(p) < logFlushSize
	l.mu.Unlock()
	if first || full {
		select {
		case l.kick <- struct{}{}:
		default: // a kick is already pending
		}
	}
	return len(p), nil
}

// Dropped returns how many lines were dropped because the buffer was full.
func (l *logWriter) Dropped() uint64 { return l.dropped.Load() }

// run writes the buffer out: logFlushInterval after a first line arrives,
// or at once when the buffer reaches logFlushSize.
func (l *logWriter) run() {
	defer close(l.stopped)
	timer := time.NewTimer(logFlushInterval)
	timer.Stop()
	for {
		select {
		case <-l.kick:
		case <-l.done:
			l.flush(true)
			return
		}
		timer.Reset(logFlushInterval)
		select {
		case <-timer.C:
		case <-l.kick: // full
			timer.Stop()
		case <-l.done:
			l.flush(true)
			return
		}
		l.flush(false)
	}
}

// flush writes out what is buffered; last marks the final flush, after
// which Write writes through.
func (l *logWriter) flush(last bool) {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	l.mu.Lock()
	l.buf, l.spare = l.spare[:0], l.buf
	l.closed = last
	l.mu.Unlock()
	if len(l.spare) > 0 {
		_, _ = l.out.Write(l.spare)
	}
}

// Close writes out the buffered lines, waiting at most logCloseTimeout
// for a stalled destination; later writes go straight to it.
func (l *logWriter) Close() {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	select {
	case <-l.stopped:
	case <-time.After(logCloseTimeout):
	}
}

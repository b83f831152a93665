package cmdutil

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress is a byte-count progress bar on stderr. It is a no-op when
// stderr is not a terminal, so callers never check.
type Progress struct {
	bar *progressbar.ProgressBar
}

// Progress returns a bar for total bytes described by desc.
func (f *Factory) Progress(total int64, desc string) *Progress {
	if !f.Env.StderrTerminal {
		return &Progress{}
	}
	return &Progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f.Env.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// Write counts len(p) bytes, so a progress can sit in an io.MultiWriter.
func (p *Progress) Write(b []byte) (int, error) {
	if p.bar != nil {
		p.bar.Add64(int64(len(b)))
	}
	return len(b), nil
}

// Skip counts n bytes that were not transferred (already there, or not
// bytes at all) as done.
func (p *Progress) Skip(n int64) {
	_, _ = io.CopyN(p, zeroReader{}, n)
}

// Finish removes the bar.
func (p *Progress) Finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

var _ io.Writer = (*Progress)(nil)

// Reader counts what is read from rs on the bar. The result stays
// seekable, so that the client can send it again (to the primary a
// NotPrimary answer names, after a failover).
func (p *Progress) Reader(rs io.ReadSeeker) io.ReadSeeker {
	return &progressReader{rs: rs, bar: p}
}

type progressReader struct {
	rs  io.ReadSeeker
	bar *Progress
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.rs.Read(b)
	p.bar.Write(b[:n])
	return n, err
}

func (p *progressReader) Seek(off int64, whence int) (int64, error) { return p.rs.Seek(off, whence) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

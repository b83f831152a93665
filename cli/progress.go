package cli

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is a byte-count progress bar on stderr. It is a no-op when
// stderr is not a terminal, so callers never check.
type progress struct {
	bar *progressbar.ProgressBar
}

// progress returns a bar for total bytes described by desc.
func (a *app) progress(total int64, desc string) *progress {
	if !a.env.StderrTerminal {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(a.env.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// Write counts len(p) bytes, so a progress can sit in an io.MultiWriter.
func (p *progress) Write(b []byte) (int, error) {
	if p.bar != nil {
		p.bar.Add64(int64(len(b)))
	}
	return len(b), nil
}

// finish removes the bar.
func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

var _ io.Writer = (*progress)(nil)

// progressReader counts what is read from a seekable source on a bar, and
// stays seekable, so that the client can send it again (to the primary a
// NotPrimary answer names, after a failover).
type progressReader struct {
	rs  io.ReadSeeker
	bar *progress
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.rs.Read(b)
	p.bar.Write(b[:n])
	return n, err
}

func (p *progressReader) Seek(off int64, whence int) (int64, error) { return p.rs.Seek(off, whence) }

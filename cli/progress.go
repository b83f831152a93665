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

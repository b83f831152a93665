package region

import (
	"io"

	"github.com/tandemml/tandem"
)

// CheckUploadSize refuses a declared size over the upload limit before any
// byte is read.
func (r *Region) CheckUploadSize(what string, size int64) error {
	if r.MaxUpload > 0 && size > r.MaxUpload {
		return tandem.Errorf(tandem.ETooLarge, "%s is %d bytes; the server's upload limit is %d bytes (--max-upload-mb)", what, size, r.MaxUpload)
	}
	return nil
}

// limitUpload returns a reader that fails with ETooLarge once more than the
// upload limit has been read, so a body of unknown size cannot exceed it.
// The failed read makes the blob store abort the write: nothing is stored.
func (r *Region) limitUpload(what string, body io.Reader) io.Reader {
	if r.MaxUpload <= 0 {
		return body
	}
	return &limitedReader{r: body, left: r.MaxUpload, limit: r.MaxUpload, what: what}
}

type limitedReader struct {
	r     io.Reader
	left  int64
	limit int64
	what  string
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, tandem.Errorf(tandem.ETooLarge, "%s exceeds the server's upload limit of %d bytes (--max-upload-mb)", l.what, l.limit)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, tandem.Errorf(tandem.ETooLarge, "%s exceeds the server's upload limit of %d bytes (--max-upload-mb)", l.what, l.limit)
	}
	return n, err
}

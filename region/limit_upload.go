package region

import "io"

// LimitUpload returns a reader that fails with ETooLarge once more than
// the region's upload limit has been read from body (what names the bytes
// in the error), for uploads of unknown or untrusted size.
func (r *Region) LimitUpload(what string, body io.Reader) io.Reader {
	return r.limitUpload(what, body)
}

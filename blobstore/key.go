package blobstore

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tandemml/tandem"
)

// MaxKeyLen is the longest key accepted, in bytes: Azure's limit on blob
// names, and S3's.
const MaxKeyLen = 1024

// escapedChars are characters gocloud's azureblob stores escaped as
// "__0x<hex>__". Refusing them, with backslashes, control characters and
// "__0x" itself, keeps every blob under exactly its key on every backend
// (readable with ordinary tools, listed in key order) and keeps keys free of
// characters that URLs reserve.
const escapedChars = `"#%?`

// fileblob keeps attributes in "<key>.attrs" and, with temp files next to
// their target, writes "<key>.<16 hex digits>.tmp" until Close renames it.
// Keys of either shape are refused on every backend so that a key accepted by
// one region is accepted by every other.
var reservedKey = regexp.MustCompile(`(\.attrs|\.[0-9a-f]{16}\.tmp)$`)

// checkKey returns EInvalid unless key is a relative, slash-separated path of
// non-empty segments, none "." or "..", with no backslash, control character
// or escapedChars, at most MaxKeyLen bytes of UTF-8.
func checkKey(key string) error {
	if key == "" {
		return tandem.Errorf(tandem.EInvalid, "blob key is empty")
	}
	if len(key) > MaxKeyLen {
		return invalidKey(key, "is longer than %d bytes", MaxKeyLen)
	}
	if err := checkChars(key); err != nil {
		return err
	}
	if reservedKey.MatchString(key) {
		return invalidKey(key, "ends in a suffix reserved by the file backend")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(key, seg); err != nil {
			return err
		}
	}
	return nil
}

// checkPrefix validates a List or DeletePrefix prefix. A prefix is a plain
// string prefix of keys: "" selects everything, and every segment before its
// last slash must be valid; the part after it may be the start of any segment.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > MaxKeyLen {
		return invalidKey(prefix, "is longer than %d bytes", MaxKeyLen)
	}
	if err := checkChars(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if err := checkSegment(prefix, seg); err != nil {
			return err
		}
	}
	return nil
}

func checkChars(key string) error {
	if !utf8.ValidString(key) {
		return invalidKey(key, "is not valid UTF-8")
	}
	if strings.HasPrefix(key, "/") {
		return invalidKey(key, "must be relative, not start with a slash")
	}
	for _, c := range key {
		switch {
		case c == '\\':
			return invalidKey(key, "contains a backslash; separate segments with slashes")
		case c < 0x20 || c == 0x7f:
			return invalidKey(key, "contains a control character")
		case strings.ContainsRune(escapedChars, c):
			return invalidKey(key, "contains %q; keys may not contain any of %s", c, escapedChars)
		}
	}
	if strings.Contains(key, "__0x") {
		return invalidKey(key, "contains \"__0x\", which gocloud reads as an escaped character")
	}
	return nil
}

func checkSegment(key, seg string) error {
	switch seg {
	case "":
		return invalidKey(key, "has an empty segment (leading, trailing or double slash)")
	case ".", "..":
		return invalidKey(key, "has a %q segment", seg)
	}
	return nil
}

func invalidKey(key, format string, args ...any) error {
	return tandem.Errorf(tandem.EInvalid, "blob key %q "+format, append([]any{key}, args...)...)
}

package blobstore

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestCheckKey(t *testing.T) {
	valid := []string{
		"a", "a/b", "a.b", ".hidden", "a/..b/c..", "...", "ünï/✓", "a b/c",
		"x.attrs.json", "x.0123456789abcdef.tmp.txt", "x.123.tmp", strings.Repeat("k", MaxKeyLen),
	}
	for _, key := range valid {
		if err := checkKey(key); err != nil {
			t.Errorf("checkKey(%q): got %v, want nil", key, err)
		}
	}
	invalid := []string{
		"", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/../b", `a\b`, "a\x00", "a\x7f", "a\tb",
		"a#b", "a%20", "a?b", `a"b`, "__0x41__", "a\xff", strings.Repeat("k", MaxKeyLen+1),
		"x.attrs", "a/b.0123456789abcdef.tmp",
	}
	for _, key := range invalid {
		if err := checkKey(key); !tandem.IsCode(err, tandem.EInvalid) {
			t.Errorf("checkKey(%q): got %v, want code %s", key, err, tandem.EInvalid)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, prefix := range []string{"", "a", "a/", "a/b", "a/.", "a/..", "a/.h"} {
		if err := checkPrefix(prefix); err != nil {
			t.Errorf("checkPrefix(%q): got %v, want nil", prefix, err)
		}
	}
	for _, prefix := range []string{"/", "/a", "a//", "./", "../", "a/../", `a\`, "a#"} {
		if err := checkPrefix(prefix); !tandem.IsCode(err, tandem.EInvalid) {
			t.Errorf("checkPrefix(%q): got %v, want code %s", prefix, err, tandem.EInvalid)
		}
	}
}

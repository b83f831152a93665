package cmdutil

import (
	"fmt"
	"testing"
)

func TestParseTags(t *testing.T) {
	got, err := ParseTags([]string{"team=vision", "stage=", "flag", "url=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"team": "vision", "stage": "", "flag": "", "url": "a=b"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, err := ParseTags([]string{""}); got != nil || err != nil {
		t.Fatalf("ParseTags('') = %v, %v; want nil, nil (clear)", got, err)
	}
}

package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/tandemml/tandem"
)

func TestExitCodes(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		err     error
		running bool
		want    int
	}{
		{"OK", ctx, nil, true, 0},
		{"Usage", ctx, errors.New(`unknown flag: --x`), false, 2},
		{"Invalid", ctx, tandem.Errorf(tandem.EInvalid, "bad"), true, 2},
		{"TooLarge", ctx, tandem.Errorf(tandem.ETooLarge, "big"), true, 2},
		{"NotFound", ctx, tandem.Errorf(tandem.ENotFound, "no"), true, 3},
		{"WrappedNotFound", ctx, fmt.Errorf("find: %w", tandem.Errorf(tandem.ENotFound, "no")), true, 3},
		{"Conflict", ctx, tandem.Errorf(tandem.EConflict, "dup"), true, 4},
		{"Unauthorized", ctx, tandem.Errorf(tandem.EUnauthorized, "who"), true, 5},
		{"Forbidden", ctx, tandem.Errorf(tandem.EForbidden, "no"), true, 5},
		{"Unavailable", ctx, tandem.Errorf(tandem.EUnavailable, "down"), true, 6},
		{"LocalSyscallError", ctx, fmt.Errorf("mkdir: %w", syscall.ENOSPC), true, 1},
		{"NotPrimary", ctx, tandem.Errorf(tandem.ENotPrimary, "secondary"), true, 7},
		{"Corrupt", ctx, tandem.Errorf(tandem.ECorrupt, "sha"), true, 8},
		{"Internal", ctx, tandem.Errorf(tandem.EInternal, "bug"), true, 1},
		{"UnknownCode", ctx, tandem.Errorf("FromTheFuture", "x"), true, 1},
		{"Other", ctx, errors.New("boom"), true, 1},
		{"LocalFileMissing", ctx, fmt.Errorf("open: %w", fs.ErrNotExist), true, 3},
		{"Interrupted", canceled, context.Canceled, true, 130},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitStatus(ErrorCode(tt.ctx, tt.err, tt.running)); got != tt.want {
				t.Fatalf("exit status %d, want %d", got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Message", tandem.Errorf(tandem.ENotFound, "workspace \"x\" not found"), "workspace \"x\" not found"},
		{"TargetInMessage", tandem.Errorf(tandem.EInvalid, "invalid workspace name").WithTarget("name"), "invalid workspace name"},
		{"TargetAdded", tandem.Errorf(tandem.EConflict, "already exists").WithTarget("mlw-dev"), "already exists (mlw-dev)"},
		{"NotPrimary", tandem.Errorf(tandem.ENotPrimary, "workspace is a read-only secondary").WithTarget("http://east:7070"),
			"workspace is a read-only secondary (primary: http://east:7070)"},
		{"WrappedKeepsContext", fmt.Errorf("create workspace %q: %w", "w", tandem.Errorf(tandem.EConflict, "name in use")),
			"create workspace \"w\": name in use"},
		{"Local", errors.New("open x.ipynb: permission denied"), "open x.ipynb: permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := ErrorCode(context.Background(), tt.err, true)
			if got := ErrorText(tt.err, code, nil); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

//go:build unix && !linux

package e2e

import (
	"errors"
	"syscall"
)

// sysProcAttr puts a server in its own process group, so that Kill reaches
// every process it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// awaitExit is not available here: the process is reaped as soon as it
// exits, and its group is no longer signalled after that.
func awaitExit(pid int) error { return errors.ErrUnsupported }

//go:build !linux

package compute

import "syscall"

// procAttr puts the command in its own process group, so a cancel ends the
// whole tree.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

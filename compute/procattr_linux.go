package compute

import "syscall"

// procAttr puts the command in its own process group (so a cancel ends
// the whole tree) and has the kernel kill it if the process that started
// it dies: a job must not outlive a kill -9 of its server or agent, or it
// would run twice once the job is given to another.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

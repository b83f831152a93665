package compute

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Exit statuses of `docker run` and `podman run` that may mean the
// container never started: 125 (the runtime failed: no daemon, an image
// that cannot be pulled), 126 (the entrypoint could not be invoked: an OCI
// runtime that cannot start containers here) and 127 (no /bin/sh in the
// image). The user's command can exit 126 or 127 too, so Local also checks
// that the container's first line, containerStarted, never reached the log.
const ExitRuntimeFailed = 125

func runtimeFailed(code int) bool { return code == 125 || code == 126 || code == 127 }

// containerStarted is the first line a job's container writes.
const containerStarted = "tandem: the container started"

// runtimeProbe is what is known of a container runtime setting.
type runtimeProbe struct {
	once sync.Once
	path string // the runtime that works; "" for none
	why  string // why none works
}

var probes sync.Map // Local.Runtime -> *runtimeProbe

// containerRuntime returns the container runtime jobs use, probed once per
// setting: "" or "auto" tries docker, then podman (`<runtime> info` must
// answer within 10 s); "none" uses none; anything else is the runtime's
// command. why says why none is used.
func (l *Local) containerRuntime() (path, why string) {
	v, _ := probes.LoadOrStore(l.Runtime, &runtimeProbe{})
	p := v.(*runtimeProbe)
	p.once.Do(func() {
		candidates := []string{"docker", "podman"}
		switch l.Runtime {
		case "", "auto":
		case "none":
			p.why = "container runtimes are turned off (--container-runtime none)"
			return
		default:
			candidates = []string{l.Runtime}
		}
		var reasons []string
		for _, c := range candidates {
			bin, err := exec.LookPath(c)
			if err != nil {
				reasons = append(reasons, c+": not installed")
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, bin, "info")
			cmd.Stderr = &stderr
			err = cmd.Run()
			cancel()
			if err == nil {
				p.path = bin
				return
			}
			reasons = append(reasons, c+": "+firstLine(stderr.String(), err.Error()))
		}
		p.why = "no container runtime works here (" + strings.Join(reasons, "; ") + ")"
	})
	return p.path, p.why
}

func firstLine(s, otherwise string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return otherwise
}

var nameRE = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerName is a name for one run's container.
func containerName(job string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "tandem-" + strings.Trim(nameRE.ReplaceAllString(job, "-"), "-.") + "-" + hex.EncodeToString(b)
}

// bashOrSh runs the command with bash when the image has it, as on the
// host, and with sh otherwise.
const bashOrSh = `echo "` + containerStarted + `"; if command -v bash >/dev/null 2>&1; then exec bash -c "$1"; else exec sh -c "$1"; fi`

// containerArgs returns the runtime's arguments to run command in image:
// the run's directory mounted at the same path (so the paths the command
// names are the host's), its code directory as the working directory, the
// host's network (the job reaches its region at TANDEM_ENDPOINT), and the
// job's variables.
func containerArgs(name, image, root, work string, env []string, command string) []string {
	args := []string{"run", "--rm", "--name", name, "--network", "host", "-v", root + ":" + root, "-w", work, "--entrypoint", "/bin/sh"}
	for _, kv := range env {
		args = append(args, "-e", kv)
	}
	return append(args, image, "-c", bashOrSh, "tandem", command)
}

func containerLine(job, image, runtime string) string {
	return fmt.Sprintf("tandem: job %s runs in container %s (%s)\n", job, image, runtime)
}

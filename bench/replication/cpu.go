package main

import (
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// cpuSample is the machine's CPU time and the part of it spent by this
// program (with the children it has waited for, such as rclone and
// stopped servers) and by the server processes named, in clock ticks.
type cpuSample struct {
	busy, total, ours float64
}

// takeCPU reads /proc/stat and the /proc/PID/stat of this process and of
// pids (0s are skipped). On a system without /proc it returns zeros.
func takeCPU(pids ...int) cpuSample {
	var s cpuSample
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal guest guest_nice
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		switch i {
		case 0, 1, 2, 5, 6, 7: // user (includes guest), nice, system, irq, softirq, steal
			s.busy += n
			s.total += n
		case 3, 4: // idle, iowait
			s.total += n
		}
	}
	s.ours = procTicks("self", true)
	for _, pid := range pids {
		if pid > 0 {
			s.ours += procTicks(strconv.Itoa(pid), false)
		}
	}
	return s
}

// procTicks returns a process's user and system time, plus that of the
// children it waited for when children is set.
func procTicks(pid string, children bool) float64 {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // f[0] is field 3, state
	var t float64
	last := 13 // fields 14 and 15: utime, stime
	if children {
		last = 15 // and 16, 17: cutime, cstime
	}
	for i := 11; i < last && i < len(f); i++ {
		n, _ := strconv.ParseFloat(f[i], 64)
		t += n
	}
	return t
}

// othersSince returns how many CPUs, on average since start, processes
// other than ours kept busy: the benchmark's noise.
func (s cpuSample) othersSince(start cpuSample) float64 {
	dt := s.total - start.total
	if dt <= 0 {
		return 0
	}
	return max(0, (s.busy-start.busy)-(s.ours-start.ours)) / dt * float64(runtime.NumCPU())
}

// oursSince returns how many CPUs, on average since start, this program
// and the servers kept busy.
func (s cpuSample) oursSince(start cpuSample) float64 {
	dt := s.total - start.total
	if dt <= 0 {
		return 0
	}
	return max(0, s.ours-start.ours) / dt * float64(runtime.NumCPU())
}

// waitQuiet waits, up to limit, until processes other than ours have kept
// less than threshold CPUs busy for three seconds in a row, and says when
// it had to wait. It starts after a random pause of up to two seconds, so
// that two benchmarks waiting for each other do not start together.
func waitQuiet(what string, threshold float64, limit time.Duration, pids ...int) {
	if limit <= 0 {
		return
	}
	time.Sleep(time.Duration(rand.Int64N(int64(2 * time.Second))))
	deadline := time.Now().Add(limit)
	waited, quiet := false, 0
	for {
		a := takeCPU(pids...)
		time.Sleep(time.Second)
		others := takeCPU(pids...).othersSince(a)
		if others < threshold {
			if quiet++; quiet == 3 {
				if waited {
					log.Printf("%s: the machine is quiet now (others %.2f CPUs)", what, others)
				}
				return
			}
			continue
		}
		quiet = 0
		if time.Now().After(deadline) {
			log.Printf("%s: other processes still keep %.2f CPUs busy after waiting %v; measuring anyway", what, others, limit)
			return
		}
		if !waited {
			log.Printf("%s: other processes keep %.2f CPUs busy; waiting (up to %v) for a quiet machine", what, others, limit)
			waited = true
		}
	}
}

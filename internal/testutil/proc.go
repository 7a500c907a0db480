package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ProcState returns process pid's state letter ("R", "S", "Z", …) and its
// parent's pid from /proc, or ok=false when there is no such process.
func ProcState(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid …; comm may contain spaces and parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, true
}

// Alive reports whether pid runs: it exists and is not a zombie.
func Alive(pid int) bool {
	st, _, ok := ProcState(pid)
	return ok && st != "Z"
}

// ChildPIDs lists this process's child processes, zombies included.
func ChildPIDs(t testing.TB) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := ProcState(pid); ok && ppid == os.Getpid() {
			kids = append(kids, pid)
		}
	}
	return kids
}

// OpenFDs counts this process's open file descriptors.
func OpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

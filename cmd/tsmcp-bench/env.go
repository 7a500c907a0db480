package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// environment describes the machine and the software measured.
type environment struct {
	date         time.Time
	cpuModel     string
	cores        int
	memTotal     string
	kernel       string
	loadStart    string
	loadEnd      string
	goVersion    string
	tailscale    string
	mcpGo        string
	commit       string
	tsmcpVersion string
	nodeVersion  string
	supergateway string
	everything   string
	nofile       uint64
}

// collectEnvironment reads the machine's description from /proc, the
// module versions from the build information, and the commit from git.
func collectEnvironment(ctx context.Context, repo, npmDir string) environment {
	e := environment{
		date:      time.Now().UTC(),
		cores:     runtime.NumCPU(),
		goVersion: runtime.Version(),
		loadStart: loadAvg(),
		cpuModel:  "unknown",
		memTotal:  "unknown",
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						e.memTotal = fmtBytes(kb * 1024)
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "tailscale.com":
				e.tailscale = d.Version
			case "github.com/mark3labs/mcp-go":
				e.mcpGo = d.Version
			}
		}
	}
	e.commit = commandOutput(ctx, "git", "-C", repo, "rev-parse", "--short=12", "HEAD")
	if out := commandOutput(ctx, "git", "-C", repo, "status", "--porcelain", "--untracked-files=no"); out != "" {
		e.commit += " (tree has uncommitted changes)"
	}
	e.nodeVersion = commandOutput(ctx, "node", "--version")
	e.supergateway = npmVersion(npmDir, "supergateway")
	e.everything = npmVersion(npmDir, "@modelcontextprotocol/server-everything")
	return e
}

// commandOutput runs a command and returns its trimmed output, or "" when
// it fails.
func commandOutput(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// npmVersion reads an installed package's version from its package.json.
func npmVersion(npmDir, pkg string) string {
	b, err := os.ReadFile(filepath.Join(npmDir, "node_modules", pkg, "package.json"))
	if err != nil {
		return ""
	}
	var meta struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &meta) != nil {
		return ""
	}
	return meta.Version
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// loadOne returns the 1-minute load average, or -1.
func loadOne(s string) float64 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

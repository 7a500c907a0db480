package svcguard

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     string // "" for an error
	}{
		{name: "ipv4", in: "0100007F:1F90", want: "127.0.0.1:8080"},
		{name: "ipv4 tailnet", in: "0300400A:0050", want: "10.64.0.3:80"},
		{name: "ipv4-mapped ipv6", in: "0000000000000000FFFF00000100007F:0050", want: "127.0.0.1:80"},
		{name: "ipv6 loopback", in: "00000000000000000000000001000000:0050", want: "[::1]:80"},
		{name: "no port", in: "0100007F", want: ""},
		{name: "bad hex", in: "0100007G:0050", want: ""},
		{name: "short address", in: "01007F:0050", want: ""},
		{name: "bad port", in: "0100007F:XYZ", want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcAddr(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parseProcAddr(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != netip.MustParseAddrPort(tt.want) {
				t.Fatalf("parseProcAddr(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestOwnedBySelf: a loopback connection dialled by this process passes;
// one dialled by a child process (the test binary re-executed as a
// dialler, see TestMain) does not.
func TestOwnedBySelf(t *testing.T) {
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	own, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := ownedBySelf(c); err != nil {
		t.Errorf("this process's own connection: %v", err)
	}
	c.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dialEnv+"="+ln.Addr().String())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	c, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	err = ownedBySelf(c)
	c.Close() // the child sees the connection end and exits
	if err == nil || !strings.Contains(err.Error(), "belongs to another process") {
		t.Fatalf("a child's connection: %v, want it refused as another process's", err)
	}
}

package svcguard

import (
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// dialEnv, when set to a loopback address, makes the test binary a
// dialler: another process that connects to the address and holds the
// connection until the other end closes it.
const dialEnv = "SVCGUARD_TEST_DIAL"

func TestMain(m *testing.M) {
	if addr := os.Getenv(dialEnv); addr != "" {
		runDialler(addr)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runDialler is the dialler child's main.
func runDialler(addr string) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.Copy(io.Discard, c)
}

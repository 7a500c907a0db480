package svcguard

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ownedBySelf reports (nil) whether the peer end of the loopback
// connection c is a socket this process holds: it finds the peer socket's
// inode in /proc/net/tcp{,6} (the socket whose local address is c's remote
// address and whose remote address is c's local one) and looks for
// socket:[inode] among /proc/self/fd. Go opens every descriptor
// close-on-exec, so child processes do not inherit tsnet's sockets. Any
// failure to verify is an error: the caller refuses the connection.
func ownedBySelf(c net.Conn) error {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return errors.New("not a TCP connection")
	}
	inode, err := socketInode(unmapPort(remote.AddrPort()), unmapPort(local.AddrPort()))
	if err != nil {
		return err
	}
	return selfHoldsSocket(inode)
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// socketInode finds the inode of the TCP socket with local address
// local and remote address remote.
func socketInode(local, remote netip.AddrPort) (string, error) {
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		inode, err := findSocket(path, local, remote)
		if err != nil {
			return "", err
		}
		if inode != "" {
			return inode, nil
		}
	}
	return "", fmt.Errorf("no socket %s->%s in /proc/net/tcp{,6}", local, remote)
}

func findSocket(path string, local, remote netip.AddrPort) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(path, "6") {
			return "", nil // no IPv6 in this kernel
		}
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		l, err1 := parseProcAddr(fields[1])
		r, err2 := parseProcAddr(fields[2])
		if err1 != nil || err2 != nil || l != local || r != remote {
			continue
		}
		if fields[9] == "0" {
			return "", errors.New("the peer socket has no inode (closed)")
		}
		return fields[9], nil
	}
	return "", sc.Err()
}

// parseProcAddr parses an address of /proc/net/tcp{,6}: the IP in hex,
// 32-bit words in host (little-endian) byte order, a colon and the port
// in hex. IPv4-mapped IPv6 addresses are unmapped.
func parseProcAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	b, err := hex.DecodeString(ipHex)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	ip, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// selfHoldsSocket reports (nil) whether one of this process's descriptors
// is socket:[inode].
func selfHoldsSocket(inode string) error {
	want := "socket:[" + inode + "]"
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && link == want {
			return nil
		}
	}
	return fmt.Errorf("the peer socket (inode %s) belongs to another process", inode)
}

// Supported reports (nil) whether a Listener can verify here that a
// connection comes from this process: /proc/net/tcp and /proc/self/fd
// must be readable. Where it fails, a Listener refuses every connection,
// so a Service should not be served.
func Supported() error {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		return err
	}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return err
	}
	return f.Close()
}

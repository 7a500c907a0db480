//go:build !linux

package svcguard

import (
	"errors"
	"net"
)

// errNoLoopbackGuard: outside Linux tsmcp has no way to tell whether a
// loopback connection comes from this process, so it serves no Service.
var errNoLoopbackGuard = errors.New("only supported on Linux, where tsmcp can check through /proc that a connection on the Service's loopback socket comes from this process")

// ownedBySelf cannot verify the peer here: every connection is refused.
func ownedBySelf(net.Conn) error { return errNoLoopbackGuard }

// Supported reports that the guard is unavailable: a Listener refuses
// every connection here, so a Service should not be served.
func Supported() error { return errNoLoopbackGuard }

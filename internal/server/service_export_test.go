package server

import "net"

// ServiceLoopbackAddr is the loopback address tsnet forwards the Service's
// connections to; nil without tailnet.service or before Ready.
func (s *Server) ServiceLoopbackAddr() net.Addr {
	if s.svcLn == nil {
		return nil
	}
	return s.svcLn.Addr()
}

package config

import (
	"regexp"
	"time"
)

// serviceRE matches a Tailscale Service name: svc: and a lower-case DNS
// label.
var serviceRE = regexp.MustCompile(`^svc:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// maxServiceDrain bounds tailnet.service_drain: a drain longer than this
// outlasts every platform's stop timeout.
const maxServiceDrain = 10 * time.Minute

// validateService checks tailnet.service, service_port and service_drain.
func (t *Tailnet) validateService(p *problems) {
	if t.ServicePort < 1 || t.ServicePort > 65535 {
		p.addf("tailnet.service_port", "%d is not a TCP port (1-65535)", t.ServicePort)
	}
	if t.ServiceDrain < 0 || t.ServiceDrain > maxServiceDrain {
		p.addf("tailnet.service_drain", "must be between 0s and %s", maxServiceDrain)
	}
	if t.Service == "" {
		return
	}
	if !serviceRE.MatchString(t.Service) {
		p.addf("tailnet.service", "%q is not a Tailscale Service name (svc:<name>, the name a lower-case DNS label of at most 63 letters, digits and '-')", t.Service)
	}
	if len(t.Tags) == 0 {
		p.addf("tailnet.tags", "required when tailnet.service is set (Tailscale Service hosts must be tagged nodes)")
	}
}

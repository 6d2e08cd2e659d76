package relay

import (
	"net"
)

// HostIPv4s lists this host's IPv4 addresses: what qmail's ipme finds, the
// addresses of user@[ip] that qmail-smtpd rewrites to localiphost.
func HostIPv4s() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			out = append(out, n.IP.To4().String())
		}
	}
	return out
}

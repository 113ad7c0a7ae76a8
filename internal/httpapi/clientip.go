package httpapi

import (
	"net"
	"net/http"
	"strings"
)

// clientIP returns the address of the client. X-Forwarded-For is believed
// only when the direct peer is a trusted proxy, and then only up to the first
// address (from the right) that is not itself a trusted proxy, so a client
// cannot choose its own IP by sending the header.
func clientIP(r *http.Request, trusted []*net.IPNet) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(trusted) == 0 || !isTrusted(host, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if net.ParseIP(hop) == nil {
			break
		}
		if !isTrusted(hop, trusted) {
			return hop
		}
		host = hop
	}
	return host
}

func isTrusted(ip string, trusted []*net.IPNet) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	for _, n := range trusted {
		if n.Contains(p) {
			return true
		}
	}
	return false
}

package kasa

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/httpx"
)

// vendorDomain is the only domain whose appServerUrl is trusted with the
// token (besides the configured cloud URL's own origin).
const vendorDomain = "tplinkcloud.com"

// checkAppServerURL decides where passthrough requests for a device go.
// The URL comes from a response body, so it is trusted only when it is
// https on tplinkcloud.com or a subdomain (port empty or 443, no user info),
// or when it has exactly the scheme and host (with port) of the configured
// cloud URL base. An empty appServerUrl means the configured URL. The
// result has no query or fragment. A refusal wraps cloud.ErrRefused.
func checkAppServerURL(raw string, base *url.URL) (string, error) {
	if raw == "" {
		return base.String(), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("appServerUrl is not a URL: %w", cloud.ErrRefused)
	}
	if u.User != nil || u.Opaque != "" || u.Host == "" {
		return "", fmt.Errorf("appServerUrl %q is not a plain https URL: %w", httpx.RedactURL(raw), cloud.ErrRefused)
	}
	scheme := strings.ToLower(u.Scheme)
	sameOrigin := scheme == strings.ToLower(base.Scheme) && strings.EqualFold(u.Host, base.Host)
	if !sameOrigin && !isVendorHost(scheme, u) {
		return "", fmt.Errorf("appServerUrl %q is outside https://*.%s and the configured cloud URL: %w",
			httpx.RedactURL(raw), vendorDomain, cloud.ErrRefused)
	}
	clean := url.URL{Scheme: scheme, Host: strings.ToLower(u.Host), Path: u.Path, RawPath: u.RawPath}
	return clean.String(), nil
}

func isVendorHost(scheme string, u *url.URL) bool {
	if scheme != "https" {
		return false
	}
	if p := u.Port(); p != "" && p != "443" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return host == vendorDomain || strings.HasSuffix(host, "."+vendorDomain)
}

package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// ErrMQTTTimeout is returned when the broker did not acknowledge in time.
var ErrMQTTTimeout = errors.New("mqtt: timed out waiting for the broker")

// MQTTOptions configure the broker connection.
type MQTTOptions struct {
	// Server is mqtt://host[:port] (default port 1883) or mqtts://host[:port]
	// (default port 8883, verified against the system roots or TLSConfig).
	Server string
	// ClientID must be stable and unique per instance (two instances with
	// one id disconnect each other in a loop).
	ClientID string
	Username string
	Password string
	// KeepAlive, default 30s; values under 5s are raised to 5s (paho
	// truncates to whole seconds and mochi drops clients below that).
	KeepAlive time.Duration
	// MaxReconnectInterval caps paho's reconnect backoff. Default 30s.
	MaxReconnectInterval time.Duration
	// TLSConfig for mqtts://; nil uses the system roots.
	TLSConfig *tls.Config
}

// brokerURL converts mqtt:// and mqtts:// to paho's tcp:// and ssl://.
func brokerURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("mqtt server %q: %w", server, err)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("mqtt server %q: no host", server)
	}
	port := u.Port()
	switch u.Scheme {
	case "mqtt", "tcp":
		if port == "" {
			port = "1883"
		}
		return "tcp://" + net.JoinHostPort(u.Hostname(), port), nil
	case "mqtts", "ssl", "tls":
		if port == "" {
			port = "8883"
		}
		return "ssl://" + net.JoinHostPort(u.Hostname(), port), nil
	}
	return "", fmt.Errorf("mqtt server %q: scheme must be mqtt or mqtts", server)
}

// newPahoClient builds the paho client with every option set explicitly.
// onConnect runs (in its own goroutine) on the first connect and on every
// reconnect; onMessage receives every message and must not block.
func newPahoClient(o MQTTOptions, will string, willPayload []byte, log *zap.Logger,
	onConnect func(paho.Client), onLost func(error), onMessage paho.MessageHandler) (paho.Client, error) {
	server, err := brokerURL(o.Server)
	if err != nil {
		return nil, err
	}
	keepAlive := o.KeepAlive
	if keepAlive == 0 {
		keepAlive = 30 * time.Second
	}
	keepAlive = max(keepAlive, 5*time.Second)
	maxReconnect := o.MaxReconnectInterval
	if maxReconnect == 0 {
		maxReconnect = 30 * time.Second
	}
	opts := paho.NewClientOptions().
		AddBroker(server).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetProtocolVersion(4). // MQTT 3.1.1
		SetCleanSession(true). // commands queued while we were away are stale
		SetOrderMatters(true). // our handler never blocks; commands keep their order
		SetKeepAlive(keepAlive).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2*time.Second).
		SetMaxReconnectInterval(maxReconnect).
		SetResumeSubs(false).
		SetBinaryWill(will, willPayload, 1, true).
		SetDefaultPublishHandler(onMessage).
		SetOnConnectHandler(onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) { onLost(err) }).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			log.Debug("reconnecting to the MQTT broker")
		})
	if o.TLSConfig != nil {
		opts.SetTLSConfig(o.TLSConfig)
	}
	return paho.NewClient(opts), nil
}

// waitToken waits for tok, for at most d or until ctx ends. A token that did
// not complete in time is ErrMQTTTimeout (paho leaves Error nil then).
func waitToken(ctx context.Context, tok paho.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return ErrMQTTTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

package tuya

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// Size limits of pushed messages. A device event is a few hundred bytes;
// anything near these limits is garbage and is refused (and acknowledged,
// so that the message service does not send it again).
const (
	// maxFrameBytes is the consumer's WebSocket read limit: a larger frame
	// ends the connection.
	maxFrameBytes = 4 << 20
	// maxPayloadBytes bounds a frame's decoded payload.
	maxPayloadBytes = 256 << 10
	// maxMessageIDLen bounds the message id echoed in the acknowledgement.
	maxMessageIDLen = 256
)

// pushFrame is one frame of the message service's WebSocket consumer
// (reference §6.3): {"messageId", "payload" (base64), "properties",
// "publishTime", "redeliveryCount", "key"}.
type pushFrame struct {
	// messageID acknowledges the frame; "" when the frame had none usable.
	messageID string
	// payload is the decoded payload (nil when the frame is unusable).
	payload []byte
	// gcm: the properties say the data is AES-GCM (em = "aes_gcm").
	gcm bool
	// redelivered counts earlier deliveries of this message.
	redelivered int
}

// frameError is a frame that cannot be used; kind is the metrics result
// (cloud.PushParseError or cloud.PushDecryptError).
type frameError struct {
	kind string
	err  error
}

func (e *frameError) Error() string { return e.err.Error() }

func parseErr(format string, a ...any) error {
	return &frameError{kind: cloud.PushParseError, err: fmt.Errorf(format, a...)}
}

func decryptErr(err error) error { return &frameError{kind: cloud.PushDecryptError, err: err} }

// parseFrame decodes one consumer frame. When it returns an error the
// frame's messageID, if it had a usable one, is still set, so that the
// frame can be acknowledged.
func parseFrame(raw []byte) (pushFrame, error) {
	var f pushFrame
	m, ok := jsonv.Object(raw)
	if !ok {
		return f, parseErr("frame is not a JSON object")
	}
	if id, ok := jsonv.String(m["messageId"]); ok && text.IsToken(id, maxMessageIDLen) {
		f.messageID = id
	} else {
		return f, parseErr("frame has no usable messageId")
	}
	if n, ok := jsonv.Int(m["redeliveryCount"]); ok && n > 0 {
		f.redelivered = n
	}
	if props, ok := jsonv.Object(m["properties"]); ok {
		if em, ok := jsonv.String(props["em"]); ok && strings.EqualFold(strings.TrimSpace(em), "aes_gcm") {
			f.gcm = true
		}
	}
	b64, ok := jsonv.String(m["payload"])
	if !ok || b64 == "" {
		return f, parseErr("frame has no payload")
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > maxPayloadBytes {
		return f, parseErr("payload of %d bytes is too large", len(b64))
	}
	payload, err := decodeBase64(b64)
	if err != nil {
		return f, parseErr("payload is not base64")
	}
	f.payload = payload
	return f, nil
}

// decodeBase64 accepts standard base64 with or without padding.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "=") || len(s)%4 == 0 {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// pushPayload is a frame's decoded payload (reference §6.3): {"protocol",
// "pv", "t", "data" (base64 ciphertext), "sign"}. The sign is not checked:
// its recipe is not documented, and the connection itself is
// authenticated (TLS to the message service, which knows the project's
// credentials).
type pushPayload struct {
	protocol int
	// t is the time the cloud pushed the message (ms; 0 if absent).
	t int64
	// data is the decrypted business data, JSON.
	data []byte
}

// openPayload decodes the payload and decrypts its data with key.
func openPayload(payload, key []byte, gcm bool) (pushPayload, error) {
	var p pushPayload
	m, ok := jsonv.Object(payload)
	if !ok {
		return p, parseErr("payload is not a JSON object")
	}
	proto, ok := jsonv.Int(m["protocol"])
	if !ok || proto < 0 {
		return p, parseErr("payload has no protocol number")
	}
	p.protocol = proto
	if t, ok := jsonv.Int64(m["t"]); ok && t > 0 {
		p.t = t
	}
	b64, ok := jsonv.String(m["data"])
	if !ok || b64 == "" {
		return p, parseErr("payload (protocol %d) has no data", proto)
	}
	cipherText, err := decodeBase64(b64)
	if err != nil {
		return p, parseErr("data (protocol %d) is not base64", proto)
	}
	plain, err := decryptPushData(cipherText, key, gcm)
	if err != nil {
		return p, decryptErr(fmt.Errorf("data (protocol %d): %w", proto, err))
	}
	plain = bytes.TrimSpace(plain)
	if len(plain) == 0 || plain[0] != '{' {
		return p, decryptErr(fmt.Errorf("data (protocol %d) decrypts to something that is not a JSON object (wrong key?)", proto))
	}
	p.data = plain
	return p, nil
}

// frameKind returns the metrics result of a frame error.
func frameKind(err error) string {
	var fe *frameError
	if errors.As(err, &fe) {
		return fe.kind
	}
	return cloud.PushParseError
}

// protocolLabel is the metrics label of a protocol number; "none" when
// the frame was unreadable before its protocol was known (-1).
func protocolLabel(p int) string {
	if p < 0 {
		return "none"
	}
	return strconv.Itoa(p)
}

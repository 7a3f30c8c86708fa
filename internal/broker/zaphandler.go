package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"syscall"

	"github.com/mochi-mqtt/server/v2/packets"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHandler is the slog.Handler mochi logs through: its records become
// zap entries of the broker's logger, at their own level, with their
// attributes as fields. mochi's Info lines (hooks added, listeners
// attached) are written at Debug, its Debug lines not at all.
//
// mochi reports every connection that ended with an error as a warning
// with an empty message. A client that closed its connection without a
// DISCONNECT packet (io.EOF: a script that exits, a restarting Home
// Assistant; or a reset connection) is routine and logged at Debug; any other error (refused
// credentials, a malformed or oversized packet) stays a warning, with a
// message that says what it is about.
type zapHandler struct {
	log *zap.Logger
}

func newZapHandler(log *zap.Logger) *zapHandler { return &zapHandler{log: log} }

// Enabled reports whether a record of level l may be written.
func (h *zapHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && h.log.Core().Enabled(zapLevel(l))
}

// Handle writes r.
func (h *zapHandler) Handle(_ context.Context, r slog.Record) error {
	level, msg := zapLevel(r.Level), r.Message
	fields := make([]zap.Field, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve()
		if err, ok := v.Any().(error); ok && a.Key == "error" {
			if msg == "" {
				msg = "client connection ended with an error"
				if isClosedByClient(err) {
					level, msg = zapcore.DebugLevel, "client closed its connection without DISCONNECT"
				}
			}
			fields = append(fields, zap.Error(err))
			return true
		}
		fields = append(fields, field(a.Key, v))
		return true
	})
	if msg == "" {
		msg = "broker"
	}
	if ce := h.log.Check(level, msg); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := make([]zap.Field, 0, len(attrs))
	for _, a := range attrs {
		fields = append(fields, field(a.Key, a.Value.Resolve()))
	}
	return &zapHandler{log: h.log.With(fields...)}
}

// WithGroup returns a handler whose attributes are nested under name.
func (h *zapHandler) WithGroup(name string) slog.Handler {
	return &zapHandler{log: h.log.With(zap.Namespace(name))}
}

// field is the zap field of one attribute. A packet (mochi logs the whole
// packet of a client's protocol error) is written as its type and id only:
// a CONNECT carries the client's password, a PUBLISH its payload.
func field(key string, v slog.Value) zap.Field {
	switch pk := v.Any().(type) {
	case packets.Packet:
		return zap.String(key, packetName(pk))
	case *packets.Packet:
		if pk != nil {
			return zap.String(key, packetName(*pk))
		}
	}
	return zap.Any(key, v.Any())
}

func packetName(pk packets.Packet) string {
	name, ok := packets.PacketNames[pk.FixedHeader.Type]
	if !ok {
		name = "packet type " + strconv.Itoa(int(pk.FixedHeader.Type))
	}
	if pk.PacketID != 0 {
		name += " id " + strconv.Itoa(int(pk.PacketID))
	}
	return name
}

// zapLevel maps mochi's levels onto the daemon's: Info (chatter about its
// own set-up) becomes Debug.
func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	default:
		return zapcore.DebugLevel
	}
}

// isClosedByClient reports whether err is a connection the client simply
// went away from: closed, or reset (a killed process, `timeout
// mosquitto_sub`, a laptop that went to sleep).
func isClosedByClient(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

package ops

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Notifier speaks systemd's notify protocol (sd_notify(3)) for a unit with
// Type=notify and, optionally, WatchdogSec=. It reads NOTIFY_SOCKET,
// WATCHDOG_USEC and WATCHDOG_PID from the environment at each call and
// leaves them set. Without NOTIFY_SOCKET (not under systemd, or in Docker)
// every method is a harmless no-op. Send errors are logged, never returned:
// a daemon must not fail because systemd cannot be told something.
//
// A Notifier is safe for concurrent use; its methods never block longer
// than one datagram send to a local socket.
type Notifier struct {
	log *zap.Logger
}

// NewNotifier returns a Notifier logging to log as is (name it, e.g.
// log.Named("systemd")); nil means no logging.
func NewNotifier(log *zap.Logger) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	return &Notifier{log: log}
}

// Enabled reports whether the process runs under systemd's notify
// protocol (NOTIFY_SOCKET is set).
func (n *Notifier) Enabled() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// Ready tells systemd that start-up has finished (READY=1), with the
// status "running".
func (n *Notifier) Ready() {
	n.send(daemon.SdNotifyReady + "\nSTATUS=running")
}

// Stopping tells systemd that the daemon has begun shutting down
// (STOPPING=1).
func (n *Notifier) Stopping() {
	n.send(daemon.SdNotifyStopping + "\nSTATUS=stopping")
}

// Reloading tells systemd that the daemon is about to replace itself
// (RELOADING=1 with the MONOTONIC_USEC systemd 253+ wants): the unit stays
// active, and the new process's READY=1 ends the reload. Use it instead of
// Stopping before re-executing in place (same pid); systemd versions that
// do not know RELOADING ignore it.
func (n *Notifier) Reloading() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		n.send("RELOADING=1\nSTATUS=restarting")
		return
	}
	n.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d\nSTATUS=restarting", ts.Nano()/1000))
}

// Status sets the one-line status that `systemctl status` shows (STATUS=).
// Line breaks in s are replaced by spaces. s must hold no secret.
func (n *Notifier) Status(s string) {
	n.send("STATUS=" + strings.Join(strings.Fields(s), " "))
}

// RunWatchdog keeps systemd's watchdog fed until ctx is done. When the
// service has WatchdogSec= set (WATCHDOG_USEC, and WATCHDOG_PID naming
// this process), it sends WATCHDOG=1 at once and then every half interval,
// but only while alive() returns true (nil alive counts as always true):
// a stuck main loop stops the pings, and systemd restarts the service
// after the interval. It returns immediately when the watchdog is not
// enabled or NOTIFY_SOCKET is unset, and otherwise when ctx is done.
// alive is called from RunWatchdog's goroutine and must not block.
func (n *Notifier) RunWatchdog(ctx context.Context, alive func() bool) {
	if !n.Enabled() {
		return
	}
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("watchdog disabled: bad WATCHDOG_USEC or WATCHDOG_PID", zap.Error(err))
		return
	}
	if interval <= 0 || ctx.Err() != nil {
		return
	}
	period := interval / 2
	n.log.Info("feeding the systemd watchdog", zap.Duration("interval", interval), zap.Duration("period", period))
	t := time.NewTicker(period)
	defer t.Stop()
	stalled, failing := false, false
	for {
		ok := alive == nil || alive()
		switch {
		case !ok && !stalled:
			n.log.Warn("main loop not alive: withholding watchdog pings; systemd restarts the service if this lasts",
				zap.Duration("interval", interval))
		case ok && stalled:
			n.log.Info("main loop alive again: resuming watchdog pings")
		}
		stalled = !ok
		if ok {
			sent, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			switch {
			case err != nil && !failing:
				n.log.Warn("watchdog ping failed", zap.Error(err))
			case err == nil && sent && failing:
				n.log.Info("watchdog ping recovered")
			}
			failing = err != nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// send sends one notify message; see SdNotify.
func (n *Notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		first, _, _ := strings.Cut(state, "\n")
		n.log.Warn("systemd notify failed", zap.String("state", first), zap.Error(err))
	}
}

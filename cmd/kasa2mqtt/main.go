// Command kasa2mqtt bridges TP-Link Kasa cloud smart plugs to MQTT and Home
// Assistant. See README.md for usage; `kasa2mqtt help` lists the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

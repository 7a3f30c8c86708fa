package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
)

// devicesCmd prints one table row per device of every account: what the
// bridge would publish (strip outlets included) and what it cannot bridge.
func devicesCmd(ctx context.Context, e env) int {
	fs := newFlags("devices", e)
	o, code, ok := openAccounts(e, fs, configFlag(fs))
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNAME\tID\tMODEL\tONLINE\tREGION SERVER\tTOPIC")
	var all []cloud.Device
	type row struct {
		account, name, id, model, server, note string
		online                                 bool
	}
	var rows []row
	for _, a := range o.accounts {
		p := a.Provider
		// What the account holds beyond what is bridged, and each row's
		// server.
		listed, err := a.Inventory(ctx)
		if err != nil {
			accountError(e, p, err)
			code = exitError
			continue
		}
		servers := map[string]string{}
		for _, l := range listed {
			servers[l.ID] = l.Server
			if !l.Supported {
				rows = append(rows, row{p.Account(), l.Name, l.ID, l.Model, l.Server, "(not bridged: " + l.Type + ")", l.Online})
			}
		}
		devs, err := p.ListDevices(ctx)
		if err != nil {
			accountError(e, p, err)
			code = exitError
			continue
		}
		for _, d := range devs {
			server := servers[d.ID]
			if d.ParentID != "" {
				server = servers[d.ParentID]
			}
			all = append(all, d)
			rows = append(rows, row{p.Account(), d.Name, d.ID, d.Model, server, "", d.Online})
		}
	}
	topics := bridge.PlanTopics(all, daemon.Overrides(o.cfg), o.cfg.StateDir)
	for _, r := range rows {
		topic := r.note
		if topic == "" {
			topic = topics[r.id]
		}
		online := "no"
		if r.online {
			online = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.account, r.name, r.id, r.model, online, r.server, topic)
	}
	if err := tw.Flush(); err != nil {
		o.log.Error("write table", zap.Error(err))
	}
	return code
}

package kasa

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// target is where a command goes: the physical device, the outlet's wire
// id (empty for the device itself) and what the addressed device can do.
type target struct {
	ref  devRef
	wire string
	caps []cloud.Capability
}

func (p *Provider) resolve(id string) (target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.devices[id]; ok {
		return target{ref: d.ref(), caps: deviceCaps(d.info, d.row.DeviceType)}, nil
	}
	if o, ok := p.outlets[id]; ok {
		if d, ok := p.devices[o.parent]; ok {
			return target{ref: d.ref(), wire: o.wire, caps: outletCaps(d.info)}, nil
		}
	}
	return target{}, fmt.Errorf("device %q: %w", id, cloud.ErrUnknownDevice)
}

// Apply sends one command and returns once the device accepted it (both
// the envelope error_code and the device's err_code are checked). Commands
// are idempotent sets, never toggles: set_relay_state {"state":1|0},
// set_led_off {"off":0|1} (inverted: LED on = off 0), reboot {"delay":1}
// and set_light (one request per command, lightapply.go: a dimmer's relay
// and smartlife.iot.dimmer, a bulb's transition_light_state, a strip's
// smartlife.iot.lightStrip.set_light_state; cloud.CheckLight first).
// Outlet commands go to the strip with context.child_ids.
// A capability the device does not declare gives cloud.ErrUnsupported
// without contacting the cloud; an unknown id cloud.ErrUnknownDevice.
// The device is contacted even when the list said offline (the list lags).
func (p *Provider) Apply(ctx context.Context, cmd cloud.Command) error {
	if err := p.ensureListed(ctx); err != nil {
		return fmt.Errorf("kasa: %s: %w", cmd, err)
	}
	t, err := p.resolve(cmd.DeviceID)
	if err != nil {
		return fmt.Errorf("kasa: %s: %w", cmd, err)
	}
	var (
		need   cloud.Capability
		method string
		arg    map[string]any
	)
	switch cmd.Action {
	case cloud.ActionSetRelay:
		need, method, arg = cloud.CapRelay, "set_relay_state", map[string]any{"state": bit(cmd.On)}
	case cloud.ActionSetLED:
		need, method, arg = cloud.CapLED, "set_led_off", map[string]any{"off": bit(!cmd.On)}
	case cloud.ActionReboot:
		need, method, arg = cloud.CapReboot, "reboot", map[string]any{"delay": 1}
	case cloud.ActionSetLight:
		if err := p.applyLight(ctx, t, cmd); err != nil {
			return fmt.Errorf("kasa: %s: %w", cmd, err)
		}
		p.log.Debug("kasa command applied", zap.Stringer(keyCommand, cmd))
		return nil
	default:
		return fmt.Errorf("kasa: %s: unknown action %q: %w", cmd, cmd.Action, cloud.ErrUnsupported)
	}
	if !slices.Contains(t.caps, need) {
		return fmt.Errorf("kasa: %s: device has no %s capability: %w", cmd, need, cloud.ErrUnsupported)
	}
	if err := p.send(ctx, t, "system", method, arg); err != nil {
		return fmt.Errorf("kasa: %s: %w", cmd, err)
	}
	p.log.Debug("kasa command applied", zap.Stringer(keyCommand, cmd))
	return nil
}

// SetAlias renames a device or strip outlet (system.set_dev_alias). The
// alias must be non-empty printable UTF-8; surrounding space is trimmed.
func (p *Provider) SetAlias(ctx context.Context, id, alias string) error {
	alias = strings.TrimSpace(alias)
	if alias == "" || !utf8.ValidString(alias) || text.Printable(alias) != alias {
		return fmt.Errorf("kasa: set alias of %q: alias %q is empty or not printable", id, alias)
	}
	if err := p.ensureListed(ctx); err != nil {
		return fmt.Errorf("kasa: set alias of %q: %w", id, err)
	}
	t, err := p.resolve(id)
	if err != nil {
		return fmt.Errorf("kasa: set alias of %q: %w", id, err)
	}
	module := "system"
	if t.ref.bulb || t.ref.info.isBulb() {
		module = moduleBulbSystem // python-kasa IotBulb.set_alias
	}
	if err := p.send(ctx, t, module, "set_dev_alias", map[string]any{"alias": alias}); err != nil {
		return fmt.Errorf("kasa: set alias of %q: %w", id, err)
	}
	p.renamed(t, alias)
	return nil
}

// send runs one module.method on a target and checks the device verdict.
func (p *Provider) send(ctx context.Context, t target, module, method string, arg any) error {
	resp, err := p.passthrough(ctx, t.ref, newRequest(module, method, arg).forChild(t.wire))
	if err != nil {
		return err
	}
	_, err = resp.result(module, method)
	return err
}

// renamed updates the cached name after a successful set_dev_alias.
func (p *Provider) renamed(t target, alias string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.devices[t.ref.id]
	if d == nil {
		return
	}
	if t.wire == "" {
		d.row.Alias = alias
		return
	}
	if d.info == nil {
		return
	}
	si := *d.info
	si.Children = slices.Clone(si.Children)
	for i := range si.Children {
		if si.Children[i].ID == t.wire {
			si.Children[i].Alias = alias
		}
	}
	d.info = &si
}

func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}

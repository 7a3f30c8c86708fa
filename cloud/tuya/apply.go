package tuya

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// commandBody is the body of POST /v1.0/iot-03/devices/{id}/commands.
type commandBody struct {
	Commands []dpCommand `json:"commands"`
}

type dpCommand struct {
	Code  string `json:"code"`
	Value any    `json:"value"`
}

// target is what a command drives: the physical device, and the switch
// code of a relay or a light (with the device's last known values, which
// a light's commands build on).
type target struct {
	phys   string
	relay  string     // "" when the device (or outlet) has no relay
	light  *lightSpec // nil when it is not a light
	values map[string]json.RawMessage
}

// resolve maps a Device.ID to what its commands drive.
func (p *Provider) resolve(id string) (target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.devices[id]; ok && d.row.Supported {
		if l := d.layout(); l.supported() {
			return target{phys: id, relay: l.relay, light: l.selfLight(), values: d.current()}, nil
		}
	}
	if o, ok := p.outlets[id]; ok {
		if d, ok := p.devices[o.parent]; ok {
			if ls := d.layout().childLight(o.code); ls != nil {
				return target{phys: o.parent, light: ls, values: d.current()}, nil
			}
			return target{phys: o.parent, relay: o.code}, nil
		}
	}
	return target{}, fmt.Errorf("device %q: %w", id, cloud.ErrUnknownDevice)
}

// Apply sends one command and returns once the cloud accepted it (result
// true), as one commands call. cloud.ActionSetRelay sets the device's (or
// the outlet's) switch code to the target value; cloud.ActionSetLight sets
// a light's switch and, as cloud.CheckLight allows them, its brightness,
// temperature or colour (see lightSpec.commands for the data points and
// their order). Both are absolute sets, safe to replay after a token
// renewal. A strip outlet or a light of a multi-light device is commanded
// through its device. LED and reboot, relays on a strip without a master
// switch or on a light, and what CheckLight refuses give
// cloud.ErrUnsupported or cloud.ErrOutOfRange without contacting the
// cloud; an unknown id cloud.ErrUnknownDevice; a 2001 answer
// cloud.ErrDeviceOffline.
func (p *Provider) Apply(ctx context.Context, cmd cloud.Command) error {
	if err := p.ensureListed(ctx); err != nil {
		return fmt.Errorf("tuya: %s: %w", cmd, err)
	}
	t, err := p.resolve(cmd.DeviceID)
	if err != nil {
		return fmt.Errorf("tuya: %s: %w", cmd, err)
	}
	var cmds []dpCommand
	switch cmd.Action {
	case cloud.ActionSetRelay:
		if t.relay == "" {
			return fmt.Errorf("tuya: %s: device has no relay capability: %w", cmd, cloud.ErrUnsupported)
		}
		cmds = []dpCommand{{Code: t.relay, Value: cmd.On}}
	case cloud.ActionSetLight:
		if t.light == nil {
			return fmt.Errorf("tuya: %s: device has no %s capability: %w", cmd, cloud.CapLight, cloud.ErrUnsupported)
		}
		dev := cloud.Device{ID: cmd.DeviceID, Capabilities: t.light.capabilities(), ColorTemp: t.light.kelvinRange()}
		if err := cloud.CheckLight(dev, cmd); err != nil {
			return fmt.Errorf("tuya: %s: %w", cmd, err)
		}
		cmds = t.light.commands(cmd, t.values)
	case cloud.ActionSetLED, cloud.ActionReboot:
		return fmt.Errorf("tuya: %s: %w", cmd, cloud.ErrUnsupported)
	default:
		return fmt.Errorf("tuya: %s: unknown action %q: %w", cmd, cmd.Action, cloud.ErrUnsupported)
	}
	body, err := json.Marshal(commandBody{Commands: cmds})
	if err != nil {
		return fmt.Errorf("tuya: %s: encode: %w", cmd, err)
	}
	res, err := p.authCall(ctx, request{
		method: "POST",
		path:   "/v1.0/iot-03/devices/" + t.phys + "/commands",
		body:   body,
		op:     "POST /v1.0/iot-03/devices/{id}/commands",
	})
	if err != nil {
		if errors.Is(err, cloud.ErrDeviceOffline) {
			p.setOffline(t.phys, offlineByCloud)
		}
		return fmt.Errorf("tuya: %s: %w", cmd, err)
	}
	if ok, _ := jsonv.Bool(res); !ok {
		return fmt.Errorf("tuya: %s: the cloud did not confirm the command (result %s)", cmd, text.Truncate(string(res), 40))
	}
	p.setOffline(t.phys, reachable)
	p.log.Debug("tuya command applied", zap.Stringer(keyCommand, cmd))
	return nil
}

func (p *Provider) setOffline(id string, r offlineReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.devices[id]; d != nil {
		d.offline = r
	}
}

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

// resolve maps a Device.ID to the physical device and the switch code that
// drives it ("" when it has no relay).
func (p *Provider) resolve(id string) (phys, code string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.devices[id]; ok && d.row.Supported {
		if l := d.layout(); l.supported() {
			return id, l.relay, nil
		}
	}
	if o, ok := p.outlets[id]; ok {
		if _, ok := p.devices[o.parent]; ok {
			return o.parent, o.code, nil
		}
	}
	return "", "", fmt.Errorf("device %q: %w", id, cloud.ErrUnknownDevice)
}

// Apply sends one command and returns once the cloud accepted it (result
// true). Only cloud.ActionSetRelay is supported: it sets the device's (or
// the outlet's) switch code to the target value, an idempotent set that is
// safe to replay after a token renewal. A strip outlet is commanded through
// its strip. LED and reboot, and relays on a strip without a master switch,
// give cloud.ErrUnsupported without contacting the cloud; an unknown id
// cloud.ErrUnknownDevice; a 2001 answer cloud.ErrDeviceOffline.
func (p *Provider) Apply(ctx context.Context, cmd cloud.Command) error {
	if err := p.ensureListed(ctx); err != nil {
		return fmt.Errorf("tuya: %s: %w", cmd, err)
	}
	phys, code, err := p.resolve(cmd.DeviceID)
	if err != nil {
		return fmt.Errorf("tuya: %s: %w", cmd, err)
	}
	switch cmd.Action {
	case cloud.ActionSetRelay:
	case cloud.ActionSetLED, cloud.ActionReboot:
		return fmt.Errorf("tuya: %s: %w", cmd, cloud.ErrUnsupported)
	default:
		return fmt.Errorf("tuya: %s: unknown action %q: %w", cmd, cmd.Action, cloud.ErrUnsupported)
	}
	if code == "" {
		return fmt.Errorf("tuya: %s: device has no relay capability: %w", cmd, cloud.ErrUnsupported)
	}
	body, err := json.Marshal(commandBody{Commands: []dpCommand{{Code: code, Value: cmd.On}}})
	if err != nil {
		return fmt.Errorf("tuya: %s: encode: %w", cmd, err)
	}
	res, err := p.authCall(ctx, request{
		method: "POST",
		path:   "/v1.0/iot-03/devices/" + phys + "/commands",
		body:   body,
		op:     "POST /v1.0/iot-03/devices/{id}/commands",
	})
	if err != nil {
		if errors.Is(err, cloud.ErrDeviceOffline) {
			p.setOffline(phys, offlineByCloud)
		}
		return fmt.Errorf("tuya: %s: %w", cmd, err)
	}
	if ok, _ := jsonv.Bool(res); !ok {
		return fmt.Errorf("tuya: %s: the cloud did not confirm the command (result %s)", cmd, text.Truncate(string(res), 40))
	}
	p.setOffline(phys, reachable)
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

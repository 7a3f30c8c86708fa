package kasa

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/httpx"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/listgate"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/renew"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/tokenstore"
)

// Provider is one Kasa cloud account. It implements cloud.Provider and adds
// the account-level operations the CLI needs (Login, DeviceList, SetAlias).
//
// Create it with New. A Provider is safe for concurrent use; it caches the
// device list and each device's learned structure (outlets, meter), which
// ListDevices refreshes.
type Provider struct {
	calls   *cloud.CallCounter
	account string
	base    *url.URL
	sess    *session
	energy  *cloud.EnergyMeter
	log     *zap.Logger
	conc    int

	firstList listgate.Gate // the implicit first listing

	mu      sync.Mutex
	devices map[string]*physDevice // supported devices by deviceId
	outlets map[string]outletRef   // strip outlets by Device.ID
	noted   map[string]bool        // log-once keys
}

var _ cloud.Provider = (*Provider)(nil)

// physDevice is the cached knowledge of one device on the account.
type physDevice struct {
	row      ListedDevice
	endpoint string   // checked passthrough URL
	refused  error    // non-nil when the appServerUrl was refused
	info     *sysinfo // last learned get_sysinfo, nil if never reached
	online   bool     // list status, cleared when the device said offline
}

// outletRef locates a strip outlet: the strip's deviceId and the outlet id
// as the strip spells it.
type outletRef struct {
	parent, wire string
}

// devRef is an immutable snapshot of what a request to a device needs.
type devRef struct {
	id       string
	endpoint string
	refused  error
	online   bool
	info     *sysinfo
	// bulb: the list calls the device a bulb (IOT.SMARTBULB).
	bulb bool
}

func (d *physDevice) ref() devRef {
	return devRef{id: d.row.ID, endpoint: d.endpoint, refused: d.refused, online: d.online, info: d.info,
		bulb: d.row.DeviceType == micTypeBulb}
}

// New checks opts and loads the stored session; it does no network I/O.
// The terminal UUID is created here when none is stored, and written to
// disk before it is first sent to the cloud.
func New(opts Options) (*Provider, error) {
	if err := tokenstore.CheckAccount(opts.Account); err != nil {
		return nil, fmt.Errorf("kasa: %w", err)
	}
	if strings.TrimSpace(opts.Username) == "" {
		return nil, fmt.Errorf("kasa account %q: username is empty", opts.Account)
	}
	apiName := opts.API
	switch apiName {
	case "":
		apiName = APIV1
	case APIV1:
	case APIV2:
		if opts.V2.AccessKey == "" || opts.V2.SecretKey == "" {
			return nil, fmt.Errorf("kasa account %q: api v2 needs the app's access key and secret key", opts.Account)
		}
	default:
		return nil, fmt.Errorf("kasa account %q: api %q: want %s or %s", opts.Account, opts.API, APIV1, APIV2)
	}
	rawURL := opts.URL
	if rawURL == "" {
		rawURL = DefaultURL
		if apiName == APIV2 {
			rawURL = DefaultV2URL
		}
	}
	base, err := url.Parse(rawURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.User != nil {
		return nil, fmt.Errorf("kasa account %q: cloud URL %q: want http(s)://host[:port] without user info", opts.Account, httpx.RedactURL(rawURL))
	}
	base = &url.URL{Scheme: base.Scheme, Host: base.Host, Path: base.Path}

	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named(ProviderKind).With(zap.String(keyAccount, opts.Account))
	conc := concurrency(opts)

	store := newTokenStore(opts.StateDir, opts.Account)
	st, found, err := store.Load()
	if err != nil {
		return nil, fmt.Errorf("kasa account %q: %w (delete the file to start a new session)", opts.Account, err)
	}
	if found && st.Username != opts.Username {
		if st.Token != "" || st.RefreshToken != "" || st.V2 != (v2State{}) {
			log.Info("kasa stored tokens belong to another username, discarding them")
		}
		st.tokens, st.V2 = tokens{}, v2State{}
	}
	if st.V2.URL == "" {
		st.V2.tokens = tokens{} // tokens without their regional server are of no use
	}
	uuidStored := found && st.TerminalUUID != ""
	if st.TerminalUUID == "" {
		st.TerminalUUID = uuid.NewString()
	}
	st.Username = opts.Username

	calls := &cloud.CallCounter{}
	obs := opts.Observer
	observe := func(method string, err error) {
		calls.Add(time.Now())
		if obs != nil {
			obs.CloudCall(ProviderKind, opts.Account, method, err)
		}
	}
	var a api
	if apiName == APIV2 {
		a, err = newV2API(opts, base, st.TerminalUUID, observe)
		if err != nil {
			return nil, fmt.Errorf("kasa account %q: %w", opts.Account, err)
		}
	} else {
		rt := newTransport(opts.HTTPClient, opts.RequestTimeout, conc)
		rt.observe = observe
		a = &v1API{rt: rt, loginURL: base.String(), username: opts.Username}
	}
	p := &Provider{
		calls:   calls,
		account: opts.Account,
		base:    base,
		energy:  opts.Energy,
		log:     log,
		conc:    conc,
		devices: map[string]*physDevice{},
		outlets: map[string]outletRef{},
		noted:   map[string]bool{},
	}
	p.sess = &session{
		account:    opts.Account,
		username:   opts.Username,
		password:   opts.Password,
		api:        a,
		store:      store,
		log:        log,
		now:        time.Now,
		flight:     renew.Flight{Op: fmt.Sprintf("account %q: wait for login", opts.Account)},
		st:         st,
		uuidStored: uuidStored,
		onLogin: func(kind string) {
			if obs != nil {
				obs.Login(ProviderKind, opts.Account, kind)
			}
		},
	}
	return p, nil
}

// concurrency is opts.Concurrency or its default.
func concurrency(opts Options) int {
	if opts.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return opts.Concurrency
}

// Stats reports the calls made today and whether the account holds a
// token that has not been refused.
func (p *Provider) Stats() cloud.AccountStats {
	p.sess.mu.Lock()
	loggedIn := p.sess.tok().Token != "" && p.sess.fatal == nil
	p.sess.mu.Unlock()
	return cloud.AccountStats{CallsToday: p.calls.Today(time.Now()), LoggedIn: loggedIn}
}

// Rename renames a device (or strip outlet) in the Kasa cloud, so the Kasa
// app shows the new name too. It is SetAlias under the cloud.Renamer name.
func (p *Provider) Rename(ctx context.Context, id, name string) error {
	return p.SetAlias(ctx, id, name)
}

var (
	_ cloud.StatsReporter = (*Provider)(nil)
	_ cloud.Renamer       = (*Provider)(nil)
)

// Kind returns "kasa".
func (p *Provider) Kind() string { return ProviderKind }

// Account returns the configured account name.
func (p *Provider) Account() string { return p.account }

// TerminalUUID returns the terminal UUID this installation identifies
// itself with (stored with the tokens).
func (p *Provider) TerminalUUID() string {
	p.sess.mu.Lock()
	defer p.sess.mu.Unlock()
	return p.sess.st.TerminalUUID
}

// TokenPath returns the token file path, or "" without a StateDir.
func (p *Provider) TokenPath() string { return p.sess.store.Path() }

// Login logs in with password (not the configured one), as `kasa2mqtt
// login` does, and stores the token and refresh token; the password itself
// is never stored. It waits for any login in progress, and clears a sticky
// authentication failure when it succeeds. A refused password is an error
// wrapping cloud.ErrAuth naming the reason ("wrong password", 2FA on a V1
// account). A V2 account with two-step verification gets an error
// wrapping *MFARequiredError: the login goes on with RequestMFACode and
// CompleteMFA. Calls: V1 one; V2 two (regional discovery, login).
func (p *Provider) Login(ctx context.Context, password string) error {
	if err := p.sess.login(ctx, password); err != nil {
		return fmt.Errorf("kasa: login: %w", err)
	}
	return nil
}

// DeviceList fetches the account's device list (one getDeviceList call) and
// returns every row, unsupported types included, in the cloud's order.
func (p *Provider) DeviceList(ctx context.Context) ([]ListedDevice, error) {
	return p.refreshList(ctx)
}

// ListDevices fetches the device list and then, for each online supported
// device, one get_sysinfo (at most Options.Concurrency at a time) to learn
// its capabilities and outlets. Strip outlets become Devices of their own
// with ParentID set. Devices that cannot be reached keep what was learned
// before (an offline strip keeps its outlets); a device never reached is
// listed as a plain plug (relay, reboot), a never reached bulb without
// capabilities. A bulb's energy meter is probed in the same request as its
// get_sysinfo; it has the energy capability when that answers. Only device
// types "IOT.*" are bridged. The result is sorted by ID.
func (p *Provider) ListDevices(ctx context.Context) ([]cloud.Device, error) {
	if _, err := p.refreshList(ctx); err != nil {
		return nil, err
	}
	refs := p.snapshot(func(d *physDevice) bool { return d.online && d.refused == nil })
	infos := make([]*sysinfo, len(refs))
	errs := make([]error, len(refs))
	p.parallel(ctx, len(refs), func(i int) {
		infos[i], errs[i] = p.readSysinfo(ctx, refs[i])
	})
	for i, ref := range refs {
		err := errs[i]
		switch {
		case err == nil:
			p.learn(ref.id, infos[i], true)
		case isAccountError(err):
			return nil, fmt.Errorf("kasa: list devices: %w", err)
		case errors.Is(err, cloud.ErrDeviceOffline):
			p.markOffline(ref.id)
			p.log.Debug("kasa device offline", zap.String(keyDeviceID, ref.id))
		default:
			p.log.Warn("kasa device not reachable, listing what is known", zap.String(keyDeviceID, ref.id), zap.Error(err))
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kasa: list devices: %w", err)
	}
	return p.deviceSnapshot(), nil
}

// refreshList runs getDeviceList and updates the cache.
func (p *Provider) refreshList(ctx context.Context) ([]ListedDevice, error) {
	res, err := p.authCall(ctx, "", "getDeviceList", func(token string) any {
		if token == "" {
			return nil // V2: the token travels in the query, and the body has no params
		}
		return tokenParams{Token: token}
	})
	if err != nil {
		return nil, fmt.Errorf("kasa: list devices: %w", err)
	}
	rows, skipped, err := parseDeviceList(res)
	if err != nil {
		return nil, fmt.Errorf("kasa: list devices: %w", err)
	}
	if skipped > 0 {
		p.log.Warn("kasa device list rows skipped (missing, invalid or repeated deviceId)", zap.Int("rows", skipped))
	}
	p.updateRows(rows)
	return slices.Clone(rows), nil
}

func (p *Provider) updateRows(rows []ListedDevice) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]*physDevice, len(rows))
	for _, r := range rows {
		if !r.Supported {
			if key := "unsupported/" + r.ID; !p.noted[key] {
				p.noted[key] = true
				p.log.Info("kasa device type not supported, not bridged",
					zap.String(keyDeviceID, r.ID), zap.String(keyDeviceType, r.DeviceType),
					zap.String(keyModel, r.Model), zap.String(keyAlias, r.Alias))
			}
			continue
		}
		d := p.devices[r.ID]
		if d == nil {
			d = &physDevice{}
		}
		d.row = r
		d.online = r.Online
		d.refused = nil
		// No server named: "", the account's own (see authCall), the
		// configured URL for V1, the regional server for V2.
		var endpoint string
		var err error
		if r.AppServerURL != "" {
			endpoint, err = checkAppServerURL(r.AppServerURL, p.base)
		}
		if err != nil {
			d.endpoint, d.refused = "", err
			if key := "refused/" + r.ID + "/" + r.AppServerURL; !p.noted[key] {
				p.noted[key] = true
				p.log.Warn("kasa device appServerUrl refused, the device will not be contacted",
					zap.String(keyDeviceID, r.ID), zap.String(keyURL, httpx.RedactURL(r.AppServerURL)))
			}
		} else {
			d.endpoint = endpoint
		}
		next[r.ID] = d
	}
	p.devices = next
	p.rebuildOutletsLocked()
	p.firstList.Listed()
}

func (p *Provider) rebuildOutletsLocked() {
	p.outlets = map[string]outletRef{}
	for id, d := range p.devices {
		if d.info == nil {
			continue
		}
		for _, c := range d.info.Children {
			if oid, ok := outletID(id, c.ID); ok {
				p.outlets[oid] = outletRef{parent: id, wire: c.ID}
			}
		}
	}
}

// outletID is the Device.ID of a strip outlet: its own id when it already
// starts with the strip's id (the usual "<strip id>00"), else the two
// joined, so that outlet ids stay unique on the account.
func outletID(parent, wire string) (string, bool) {
	id := wire
	if !strings.HasPrefix(wire, parent) {
		id = parent + wire
	}
	return id, validID(id)
}

// learn stores a fresh get_sysinfo for id. A bulb's emeter readings are
// kept from the reading before unless listed is set (a listing probes
// them).
func (p *Provider) learn(id string, si *sysinfo, listed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.devices[id]; d != nil {
		if !listed && d.info != nil {
			si.emeter = d.info.emeter
		}
		if !sameChildren(d.info, si) {
			// Re-index this device's outlets only: a read of each device
			// must not cost a pass over every device.
			p.indexOutletsLocked(id, d.info, false)
			p.indexOutletsLocked(id, si, true)
		}
		d.info = si
		d.online = true // it answered, whatever the list said
	}
}

// indexOutletsLocked adds (or removes) the outlets of si, the sysinfo of
// strip id, to the outlet index. p.mu is held.
func (p *Provider) indexOutletsLocked(id string, si *sysinfo, add bool) {
	if si == nil {
		return
	}
	for _, c := range si.Children {
		if oid, ok := outletID(id, c.ID); ok {
			if add {
				p.outlets[oid] = outletRef{parent: id, wire: c.ID}
			} else if p.outlets[oid].parent == id {
				delete(p.outlets, oid)
			}
		}
	}
}

// sameChildren reports whether a and b list the same outlets (their ids,
// in order).
func sameChildren(a, b *sysinfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Children {
		if a.Children[i].ID != b.Children[i].ID {
			return false
		}
	}
	return true
}

func (p *Provider) markOffline(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.devices[id]; d != nil {
		d.online = false
	}
}

// snapshot returns refs of the cached devices accepted by keep, by ID.
func (p *Provider) snapshot(keep func(*physDevice) bool) []devRef {
	p.mu.Lock()
	defer p.mu.Unlock()
	var refs []devRef
	for _, d := range p.devices {
		if keep(d) {
			refs = append(refs, d.ref())
		}
	}
	slices.SortFunc(refs, func(a, b devRef) int { return strings.Compare(a.id, b.id) })
	return refs
}

// deviceSnapshot renders the cache as cloud.Devices sorted by ID.
func (p *Provider) deviceSnapshot() []cloud.Device {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []cloud.Device
	for _, d := range p.devices {
		si := d.info
		dev := cloud.Device{
			ID:              d.row.ID,
			Provider:        ProviderKind,
			Account:         p.account,
			Name:            d.row.Alias,
			Model:           d.row.Model,
			Manufacturer:    Manufacturer,
			FirmwareVersion: d.row.FirmwareVersion,
			HardwareVersion: d.row.HardwareVersion,
			MAC:             d.row.MAC,
			Online:          d.online,
			Capabilities:    deviceCaps(si, d.row.DeviceType),
		}
		if slices.Contains(dev.Capabilities, cloud.CapEnergy) {
			dev.Readings = si.readings()
		}
		if r, known := si.kelvinRange(); slices.Contains(dev.Capabilities, cloud.CapColorTemp) {
			dev.ColorTemp = r
			if key := "kelvin/" + dev.ID; !known && !p.noted[key] {
				p.noted[key] = true
				p.log.Warn("kasa light model not in the colour temperature table, assuming "+r.String(),
					zap.String(keyDeviceID, dev.ID), zap.String(keyModel, dev.Model))
			}
		}
		if si != nil {
			dev.Name = cmp.Or(dev.Name, text.Printable(si.Alias))
			dev.Model = cmp.Or(dev.Model, text.Printable(si.Model))
			dev.FirmwareVersion = cmp.Or(dev.FirmwareVersion, text.Printable(si.SwVer))
			dev.HardwareVersion = cmp.Or(dev.HardwareVersion, text.Printable(si.HwVer))
			dev.MAC = cmp.Or(dev.MAC, si.MAC)
		}
		if dev.Name == "" {
			dev.Name = dev.ID
		}
		out = append(out, dev)
		if si == nil {
			continue
		}
		for i, c := range si.Children {
			oid, ok := outletID(dev.ID, c.ID)
			if !ok {
				continue
			}
			name := c.Alias
			if name == "" {
				name = fmt.Sprintf("%s outlet %d", dev.Name, i+1)
			}
			out = append(out, cloud.Device{
				ID:              oid,
				Provider:        ProviderKind,
				Account:         p.account,
				Name:            name,
				Model:           dev.Model,
				Manufacturer:    Manufacturer,
				FirmwareVersion: dev.FirmwareVersion,
				HardwareVersion: dev.HardwareVersion,
				Online:          dev.Online,
				ParentID:        dev.ID,
				Capabilities:    outletCaps(si),
				Readings:        outletReadings(si),
			})
		}
	}
	slices.SortFunc(out, func(a, b cloud.Device) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ensureListed lists the devices once if nothing was listed yet, so that
// ReadStates and Apply work even before the first ListDevices.
func (p *Provider) ensureListed(ctx context.Context) error {
	return p.firstList.Ensure(ctx, func(ctx context.Context) error {
		_, err := p.ListDevices(ctx)
		return err
	})
}

// authCall sends one authenticated request to endpoint ("" is the
// account's own server: the configured URL for V1, the regional server for
// V2), the token in params.token (V1) or in the query (V2). When the token
// is refused it is renewed (once for all concurrent callers) and the
// request replayed once.
func (p *Provider) authCall(ctx context.Context, endpoint, method string, params func(token string) any) (json.RawMessage, error) {
	token, gen, err := p.sess.current()
	if err != nil {
		return nil, err
	}
	if token == "" {
		if token, gen, err = p.sess.renew(ctx, gen); err != nil {
			return nil, err
		}
	}
	to := func() string {
		if endpoint == "" {
			return p.sess.server()
		}
		return endpoint
	}
	res, err := p.sess.api.call(ctx, to(), method, params, token)
	if !isTokenError(err) {
		return res, err
	}
	code, _ := apiCode(err)
	p.log.Info("kasa token rejected, renewing", zap.String(keyMethod, method), zap.Int(keyCode, code))
	if token, _, err = p.sess.renew(ctx, gen); err != nil {
		return nil, err
	}
	res, err = p.sess.api.call(ctx, to(), method, params, token)
	if isTokenError(err) {
		return nil, fmt.Errorf("token refused again right after renewal: %w", err)
	}
	return res, err
}

// passthrough sends one requestData to a device and decodes the answer.
func (p *Provider) passthrough(ctx context.Context, ref devRef, req deviceRequest) (*deviceResponse, error) {
	if ref.refused != nil {
		return nil, ref.refused
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode requestData: %w", err)
	}
	res, err := p.authCall(ctx, ref.endpoint, "passthrough", func(token string) any {
		return passthroughParams{DeviceID: ref.id, RequestData: string(data), Token: token}
	})
	if err != nil {
		return nil, err
	}
	return parsePassthroughResult(res)
}

// readSysinfo reads get_sysinfo for a listing. A bulb is asked for its
// energy meter in the same request: whether that answers decides its
// energy capability.
func (p *Provider) readSysinfo(ctx context.Context, ref devRef) (*sysinfo, error) {
	req := newRequest("system", "get_sysinfo", nil)
	if ref.bulb {
		req.add(moduleBulbEmeter, "get_realtime", nil)
	}
	resp, err := p.passthrough(ctx, ref, req)
	if err != nil {
		return nil, err
	}
	m, err := resp.result("system", "get_sysinfo")
	if err != nil {
		return nil, err
	}
	si, err := parseSysinfo(m)
	if err != nil {
		return nil, err
	}
	if si.isBulb() {
		m, merr := resp.result(moduleBulbEmeter, "get_realtime")
		if merr == nil {
			si.emeter = bulbReadings(m)
		} else {
			p.log.Debug("kasa bulb without an energy meter", zap.String(keyDeviceID, ref.id), zap.Error(merr))
		}
	}
	return si, nil
}

// parallel runs fn(0..n-1) with at most p.conc running at once.
func (p *Provider) parallel(ctx context.Context, n int, fn func(i int)) {
	sem := make(chan struct{}, p.conc)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				fn(i) // fails fast on the cancelled context
				return
			}
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// isAccountError reports errors that concern the whole account rather than
// one device: authentication, a token that keeps being refused, and
// cancellation.
func isAccountError(err error) bool {
	return errors.Is(err, cloud.ErrAuth) || isTokenError(err) || isContextError(err)
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

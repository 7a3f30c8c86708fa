package tuya

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/listgate"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/renew"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/tokenstore"
)

const (
	// listPageSize is the size asked for per device-list page.
	listPageSize = 20
	// usersPageSize is the page_size of GET /v1.0/users/{uid}/devices.
	usersPageSize = 100
	// maxListPages stops a list that never ends.
	maxListPages = 200
	// specTTL is how long a specification is trusted before the list
	// refresh reads it again (a new device, or a changed product id, is
	// read at once). Specifications rarely change and every call counts
	// against the project's quota.
	specTTL = 24 * time.Hour
	// specConcurrency bounds parallel specification reads.
	specConcurrency = 4
)

// Provider is one Tuya cloud project (account). It implements
// cloud.Provider and adds what the CLI needs (DeviceList,
// AuthorizationInstructions, ExchangeCode).
//
// Create it with New. A Provider is safe for concurrent use; it caches the
// device list and each device's specification, which ListDevices
// refreshes.
type Provider struct {
	calls     *cloud.CallCounter
	account   string
	accessID  string
	endpoint  string
	region    string
	mode      string
	userID    string
	rt        *transport
	sess      *session
	energy    *cloud.EnergyMeter
	overrides map[string]map[string]int
	log       *zap.Logger
	now       func() time.Time
	push      *pushState
	observer  cloud.Observer // may be nil

	firstList listgate.Gate // the implicit first listing

	mu      sync.Mutex
	devices map[string]*physDevice // listed devices by id, every category
	outlets map[string]outletRef   // strip outlets by Device.ID
	noted   map[string]bool        // log-once keys
	// specs are the stored specifications not yet given to a listed
	// device (see specCache); specFile is where they live.
	specs    map[string]cachedSpec
	specFile specCache
}

var _ cloud.Provider = (*Provider)(nil)

// outletRef locates a strip outlet: the strip's id and the outlet's
// switch code.
type outletRef struct {
	parent, code string
}

// offlineReason records why a device is considered offline.
type offlineReason int

const (
	reachable offlineReason = iota
	offlineByList
	offlineByCloud // a status read without it, or a 2001 answer
)

// physDevice is the cached knowledge of one listed device.
type physDevice struct {
	row         ListedDevice
	listStatus  map[string]json.RawMessage
	spec        specification // nil until read
	specAt      time.Time
	specProduct string
	offline     offlineReason
	// values are the last known data point values: a poll replaces them,
	// a push merges into them. The map is never changed once assigned
	// (updates assign a new one), so views may keep it.
	values map[string]json.RawMessage
	// pushedAt is when (host clock) a pushed value of each code was
	// applied: a poll that started earlier does not overwrite it.
	pushedAt map[string]time.Time
	// reportT is the report time (ms) of each code's last pushed value:
	// an older or repeated report of the code is not applied again.
	reportT map[string]int64
	// lay caches layout(), which is derived from row.Category, spec and
	// listStatus (a light's derivation parses its colour ranges): nil
	// until asked, and whoever changes one of those sets it to nil.
	lay *layout
}

// codes returns the data point codes the device has: its specification's
// (relay codes only when Boolean), else the list's status codes (relay
// codes only with a boolean value).
func (d *physDevice) codes() map[string]bool {
	out := map[string]bool{}
	if len(d.spec) > 0 {
		for c, dp := range d.spec {
			if _, _, relay := relayOrder(c); relay && dp.Type != "" && dp.Type != "Boolean" {
				continue
			}
			out[c] = true
		}
		return out
	}
	for c, v := range d.listStatus {
		if _, _, relay := relayOrder(c); relay {
			if _, ok := jsonv.Bool(v); !ok {
				continue
			}
		}
		out[c] = true
	}
	return out
}

// layout is the device's layout, derived once per change of its row,
// specification or list status. p.mu is held.
func (d *physDevice) layout() layout {
	if d.lay == nil {
		l := deviceLayout(d.row.Category, d.codes(), dpSource{spec: d.spec, status: d.listStatus})
		d.lay = &l
	}
	return *d.lay
}

// current returns the device's last known values: polled or pushed, else
// the list's.
func (d *physDevice) current() map[string]json.RawMessage {
	if d.values != nil {
		return d.values
	}
	return d.listStatus
}

func (d *physDevice) online() bool { return d.offline == reachable }

// New checks opts and loads the stored tokens; it does no network I/O.
func New(opts Options) (*Provider, error) {
	if err := tokenstore.CheckAccount(opts.Account); err != nil {
		return nil, fmt.Errorf("tuya: %w", err)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("tuya account %q: "+format, append([]any{opts.Account}, a...)...)
	}
	if !safeHeader(opts.AccessID) {
		return nil, fail("access_id is empty or has spaces or control characters")
	}
	if opts.AccessSecret == "" {
		return nil, fail("access_secret is empty")
	}
	mode := opts.Auth
	if mode == "" {
		mode = AuthSimple
	}
	if mode != AuthSimple && mode != AuthCode {
		return nil, fail("auth %q: want %q or %q", opts.Auth, AuthSimple, AuthCode)
	}
	if opts.UserID != "" && !safeSegment(opts.UserID) {
		return nil, fail("user_id %q has unexpected characters", opts.UserID)
	}
	base, err := baseURL(opts.Endpoint, opts.Region)
	if err != nil {
		return nil, fail("%w", err)
	}
	push, err := newPushState(opts)
	if err != nil {
		return nil, fail("%w", err)
	}
	overrides := map[string]map[string]int{}
	for id, m := range opts.ScaleOverrides {
		for code, sc := range m {
			if sc < 0 || sc > maxScale {
				return nil, fail("scale override %s/%s = %d: want 0..%d", id, code, sc, maxScale)
			}
		}
		overrides[id] = maps.Clone(m)
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named(ProviderKind).With(zap.String(keyAccount, opts.Account))
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	energy := opts.Energy
	if energy == nil {
		energy, _ = cloud.OpenEnergyMeter("") // in memory, cannot fail
	}

	store := newTokenStore(opts.StateDir, opts.Account)
	rt := newTransport(opts.HTTPClient, base, opts.AccessID, opts.AccessSecret, opts.Region, now, log, opts.RequestTimeout, opts.Concurrency)
	calls := &cloud.CallCounter{}
	obs := opts.Observer
	rt.observe = func(op string, err error) {
		calls.Add(time.Now())
		if obs != nil {
			obs.CloudCall(ProviderKind, opts.Account, op, err)
		}
	}
	sess := &session{
		account: opts.Account, accessID: opts.AccessID, endpoint: base, mode: mode,
		rt: rt, store: store, log: log,
		flight: renew.Flight{Op: fmt.Sprintf("account %q: wait for token", opts.Account)},
		onToken: func(kind string) {
			if obs != nil {
				obs.Login(ProviderKind, opts.Account, kind)
			}
		},
	}
	st, found, err := store.Load()
	if err != nil {
		return nil, fail("%w (delete the file to start a new session)", err)
	}
	if found {
		if sess.matches(st) && st.AccessToken != "" && st.RefreshToken != "" {
			sess.st = st
		} else if st.AccessToken != "" || st.RefreshToken != "" {
			log.Info("tuya stored tokens belong to another project, data centre or auth mode; not using them")
		}
	}
	specFile := newSpecCache(opts.StateDir, opts.Account)
	specs, err := specFile.load()
	if err != nil {
		log.Warn("stored tuya specifications not readable; reading them again", zap.Error(err))
	}
	if sess.st.AccessID == "" {
		sess.st = tokenState{AccessID: opts.AccessID, Endpoint: base, Auth: mode}
	}
	return &Provider{
		calls:     calls,
		account:   opts.Account,
		accessID:  opts.AccessID,
		endpoint:  base,
		region:    opts.Region,
		mode:      mode,
		userID:    opts.UserID,
		rt:        rt,
		sess:      sess,
		energy:    energy,
		overrides: overrides,
		log:       log,
		now:       now,
		push:      push,
		observer:  opts.Observer,
		devices:   map[string]*physDevice{},
		outlets:   map[string]outletRef{},
		noted:     map[string]bool{},
		specs:     specs,
		specFile:  specFile,
	}, nil
}

// Kind returns "tuya".
func (p *Provider) Kind() string { return ProviderKind }

// Account returns the configured account name.
func (p *Provider) Account() string { return p.account }

// TokenPath returns the token file path, or "" without a StateDir.
func (p *Provider) TokenPath() string { return p.sess.store.Path() }

// DeviceList fetches the device list (all pages) and returns every row,
// unsupported categories included, in the cloud's order. It reads no
// specifications; a device whose cached specification has no switch data
// point is marked unsupported.
func (p *Provider) DeviceList(ctx context.Context) ([]ListedDevice, error) {
	rows, err := p.fetchList(ctx)
	if err != nil {
		return nil, fmt.Errorf("tuya: list devices: %w", err)
	}
	p.updateRows(rows)
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ListedDevice, 0, len(rows))
	for _, r := range rows {
		d := r.dev
		if c := p.devices[d.ID]; c != nil && c.spec != nil && !c.layout().supported() {
			d.Supported = false
		}
		out = append(out, d)
	}
	return out, nil
}

// ListDevices fetches the device list and the specification of every
// supported device not read in the last 24 hours (new devices and changed
// products at once), and returns the bridged devices sorted by ID.
//
// A plug with one switch data point is one Device with a relay. A strip
// with several (switch_1..n, switch_usb1..n) is one Device for the strip
// plus one per outlet with ParentID set and ID "<strip id>_<code>"; the
// strip's own Device has the relay only if it has a master "switch". The
// metering data points (cur_power, cur_voltage, cur_current, add_ele)
// belong to the physical device: it gets CapEnergy when it has cur_power or
// add_ele, with the Readings of those it has. A specification that cannot be read falls back to the codes
// and default scales of the list's status.
func (p *Provider) ListDevices(ctx context.Context) ([]cloud.Device, error) {
	rows, err := p.fetchList(ctx)
	if err != nil {
		return nil, fmt.Errorf("tuya: list devices: %w", err)
	}
	p.updateRows(rows)
	if err := p.refreshSpecs(ctx); err != nil {
		return nil, fmt.Errorf("tuya: list devices: %w", err)
	}
	return p.deviceSnapshot(), nil
}

// fetchList reads every page of the device list. With a user id (the
// configured one, or in code mode the token's) it is GET
// /v1.0/users/{uid}/devices paged by page_no; otherwise the project-wide
// GET /v1.0/iot-01/associated-users/devices paged by last_row_key.
func (p *Provider) fetchList(ctx context.Context) ([]listRow, error) {
	uid := p.userID
	if uid == "" && p.mode == AuthCode {
		if _, err := p.token(ctx); err != nil {
			return nil, err
		}
		uid = p.sess.uid()
		if !safeSegment(uid) {
			return nil, errors.New("the token has no usable user id: set user_id in the configuration")
		}
	}
	var rows []listRow
	seen := map[string]bool{}
	skipped := 0
	add := func(pg devicePage) int {
		skipped += pg.skipped
		n := 0
		for _, r := range pg.rows {
			if seen[r.dev.ID] {
				continue
			}
			seen[r.dev.ID] = true
			rows = append(rows, r)
			n++
		}
		return n
	}
	if uid != "" {
		for page := 1; ; page++ {
			if page > maxListPages {
				return nil, fmt.Errorf("device list: more than %d pages", maxListPages)
			}
			res, err := p.authCall(ctx, request{
				method: "GET",
				path:   "/v1.0/users/" + uid + "/devices",
				query:  url.Values{"from": {""}, "page_no": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(usersPageSize)}},
				op:     "GET /v1.0/users/{uid}/devices",
			})
			if err != nil {
				return nil, err
			}
			pg, err := parseDevicePage(res)
			if err != nil {
				return nil, err
			}
			n := len(pg.rows) + pg.skipped
			if add(pg) == 0 || n < usersPageSize {
				break
			}
		}
	} else {
		key := ""
		for page := 1; ; page++ {
			if page > maxListPages {
				return nil, fmt.Errorf("device list: more than %d pages", maxListPages)
			}
			q := url.Values{"size": {strconv.Itoa(listPageSize)}}
			if key != "" {
				q.Set("last_row_key", key)
			}
			res, err := p.authCall(ctx, request{
				method: "GET",
				path:   "/v1.0/iot-01/associated-users/devices",
				query:  q,
				op:     "GET /v1.0/iot-01/associated-users/devices",
			})
			if err != nil {
				return nil, err
			}
			pg, err := parseDevicePage(res)
			if err != nil {
				return nil, err
			}
			add(pg)
			if !pg.hasMore || pg.lastRowKey == "" || pg.lastRowKey == key {
				break
			}
			key = pg.lastRowKey
		}
	}
	if skipped > 0 {
		p.log.Warn("tuya device list rows skipped (missing or invalid id)", zap.Int("rows", skipped))
	}
	return rows, nil
}

func (p *Provider) updateRows(rows []listRow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]*physDevice, len(rows))
	for _, r := range rows {
		if !r.dev.Supported {
			if key := "unsupported/" + r.dev.ID; !p.noted[key] {
				p.noted[key] = true
				p.log.Info("tuya device category not supported, not bridged",
					zap.String(keyDeviceID, r.dev.ID), zap.String(keyCategory, r.dev.Category),
					zap.String(keyProduct, r.dev.Model), zap.String(keyName, r.dev.Name))
			}
		}
		d := p.devices[r.dev.ID]
		if d == nil {
			d = &physDevice{}
			if c, ok := p.specs[r.dev.ID]; ok {
				d.spec, d.specAt, d.specProduct = c.Spec, c.At, c.Product
				delete(p.specs, r.dev.ID)
			}
		}
		d.row = r.dev
		d.listStatus = r.status
		d.lay = nil
		if r.dev.Online {
			d.offline = reachable
		} else {
			d.offline = offlineByList
		}
		next[r.dev.ID] = d
	}
	p.devices = next
	p.rebuildOutletsLocked()
	p.firstList.Listed()
}

func (p *Provider) rebuildOutletsLocked() {
	p.outlets = map[string]outletRef{}
	for id, d := range p.devices {
		if !d.row.Supported {
			continue
		}
		for _, code := range d.layout().children() {
			p.outlets[outletID(id, code)] = outletRef{parent: id, code: code}
		}
	}
}

// refreshSpecs reads the specifications that are missing, stale or of a
// changed product. Only account-level failures are returned.
func (p *Provider) refreshSpecs(ctx context.Context) error {
	now := p.now()
	p.mu.Lock()
	var ids []string
	for id, d := range p.devices {
		if d.row.Supported && (d.spec == nil || d.specProduct != d.row.ProductID || now.Sub(d.specAt) >= specTTL || now.Before(d.specAt)) {
			ids = append(ids, id)
		}
	}
	p.mu.Unlock()
	slices.Sort(ids)

	specs := make([]specification, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, specConcurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			specs[i], errs[i] = p.readSpec(ctx, id)
		})
	}
	wg.Wait()

	p.mu.Lock()
	defer p.mu.Unlock()
	var acctErr error
	saved := false
	for i, id := range ids {
		err := errs[i]
		if err != nil {
			code, _ := apiCode(err)
			if isAccountError(err) && code != codePermissionDeny {
				acctErr = cmp.Or(acctErr, err)
				continue
			}
			p.log.Warn("tuya device specification not readable; using the list's data points and default scales",
				zap.String(keyDeviceID, id), zap.Error(err))
			continue
		}
		d := p.devices[id]
		if d == nil {
			continue
		}
		d.spec, d.specAt, d.specProduct = specs[i], now, d.row.ProductID
		d.lay = nil
		saved = true
	}
	p.rebuildOutletsLocked()
	if saved {
		if err := p.specFile.save(p.devices); err != nil {
			p.log.Warn("tuya specifications not stored; a restart reads them again", zap.Error(err))
		}
	}
	if acctErr != nil {
		return acctErr
	}
	return ctx.Err()
}

func (p *Provider) readSpec(ctx context.Context, id string) (specification, error) {
	res, err := p.authCall(ctx, request{
		method: "GET",
		path:   "/v1.0/iot-03/devices/" + id + "/specification",
		op:     "GET /v1.0/iot-03/devices/{id}/specification",
	})
	if err != nil {
		return nil, err
	}
	return parseSpecification(res)
}

// deviceSnapshot renders the cache as cloud.Devices sorted by ID.
func (p *Provider) deviceSnapshot() []cloud.Device {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []cloud.Device
	for id, d := range p.devices {
		if !d.row.Supported {
			continue
		}
		l := d.layout()
		if !l.supported() {
			if key := "noswitch/" + id; !p.noted[key] {
				p.noted[key] = true
				p.log.Info("tuya device has no switch data point, not bridged",
					zap.String(keyDeviceID, id), zap.String(keyCategory, d.row.Category), zap.String(keyProduct, d.row.Model))
			}
			continue
		}
		name := d.row.Name
		if name == "" {
			name = id
		}
		model := d.row.Model
		if model == "" {
			model = d.row.Category
		}
		var caps []cloud.Capability
		var kelvin cloud.KelvinRange
		var readings []cloud.Reading
		if l.relay != "" {
			caps = append(caps, cloud.CapRelay)
		}
		if ls := l.selfLight(); ls != nil {
			caps, kelvin = ls.capabilities(), ls.kelvinRange()
		}
		if l.hasEnergy() {
			caps, readings = append(caps, cloud.CapEnergy), l.readings()
		}
		out = append(out, cloud.Device{
			ID: id, Provider: ProviderKind, Account: p.account, Name: name, Model: model,
			Manufacturer: Manufacturer, Online: d.online(), Capabilities: caps, ColorTemp: kelvin, Readings: readings,
		})
		for _, code := range l.children() {
			child := cloud.Device{
				ID: outletID(id, code), Provider: ProviderKind, Account: p.account,
				Name: l.childName(name, code), Model: model, Manufacturer: Manufacturer,
				Online: d.online(), ParentID: id, Capabilities: []cloud.Capability{cloud.CapRelay},
			}
			if ls := l.childLight(code); ls != nil {
				child.Capabilities, child.ColorTemp = ls.capabilities(), ls.kelvinRange()
			}
			out = append(out, child)
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

// token returns an access token that is set and not about to expire,
// renewing it when needed. When a proactive refresh fails for a transient
// reason, the current token is used for as long as it is still valid.
func (p *Provider) token(ctx context.Context) (string, error) {
	token, _, err := p.tokenGen(ctx)
	return token, err
}

func (p *Provider) tokenGen(ctx context.Context) (string, uint64, error) {
	token, gen, fresh, err := p.sess.current()
	if err != nil {
		return "", 0, &sessionError{err}
	}
	if fresh {
		return token, gen, nil
	}
	tok, g, err := p.sess.renew(ctx, gen)
	if err == nil {
		return tok, g, nil
	}
	if token == "" || p.sess.expired(gen) || errors.Is(err, cloud.ErrAuth) || isContextError(err) {
		return "", 0, &sessionError{err}
	}
	p.log.Warn("tuya proactive token refresh failed; using the current token until it expires", zap.Error(err))
	return token, gen, nil
}

// authCall sends one business request with the access token. When the
// token is refused (1010, 1011, 1012) a fresh one is obtained (once for all
// concurrent callers) and the request replayed once.
func (p *Provider) authCall(ctx context.Context, req request) (json.RawMessage, error) {
	token, gen, err := p.tokenGen(ctx)
	if err != nil {
		return nil, err
	}
	res, err := p.rt.do(ctx, req, token)
	if !isTokenError(err) {
		return res, err
	}
	code, _ := apiCode(err)
	p.log.Info("tuya token rejected, renewing", zap.String(keyOp, req.op), zap.Int(keyCode, code))
	if token, _, err = p.sess.renew(ctx, gen); err != nil {
		return nil, &sessionError{err}
	}
	res, err = p.rt.do(ctx, req, token)
	if isTokenError(err) {
		return nil, fmt.Errorf("token refused again right after renewal (does another program use this cloud project?): %w", err)
	}
	return res, err
}

// sessionError is a failure to obtain an access token: it concerns the
// whole account, whatever its cause.
type sessionError struct{ err error }

func (e *sessionError) Error() string { return "get access token: " + e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

// isAccountError reports errors that concern the whole account rather than
// one device: authentication, rate limits and quota, no access token, a
// token that keeps being refused, and cancellation.
func isAccountError(err error) bool {
	var se *sessionError
	return errors.As(err, &se) || errors.Is(err, cloud.ErrAuth) || errors.Is(err, cloud.ErrRateLimited) ||
		isTokenError(err) || isContextError(err)
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Stats reports the calls made today and whether the account holds a token
// that has not been refused.
func (p *Provider) Stats() cloud.AccountStats {
	p.sess.mu.Lock()
	loggedIn := p.sess.st.AccessToken != "" && p.sess.fatal == nil
	p.sess.mu.Unlock()
	return cloud.AccountStats{CallsToday: p.calls.Today(time.Now()), LoggedIn: loggedIn}
}

var _ cloud.StatsReporter = (*Provider)(nil)

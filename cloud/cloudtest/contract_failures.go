package cloudtest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func checkOffline(c *check) {
	h := c.home()
	c.list(h.p)
	c.cloud.SetOnline(h.plug, false)
	states := c.read(h.p, h.plug, h.meter)
	if st := states[h.plug]; st.Online || !errors.Is(st.Err, cloud.ErrDeviceOffline) {
		c.Errorf("state of an offline plug: Online %v, Err %v: want offline and cloud.ErrDeviceOffline", st.Online, st.Err)
	}
	if st := states[h.meter]; st.Err != nil || !st.Online {
		c.Errorf("state of the plug next to it: Online %v, Err %v", st.Online, st.Err)
	}
	c.wantErr("Apply to an offline plug", h.p.Apply(c.ctx(), relay(h.plug, true)), cloud.ErrDeviceOffline)
	if d := c.list(h.p)[h.plug]; d.Online {
		c.Error("an offline plug is listed online")
	}
	// Back: listed online and read as usual (a provider may keep the
	// list's verdict until the next list).
	c.cloud.SetOnline(h.plug, true)
	if d := c.list(h.p)[h.plug]; !d.Online {
		c.Error("a plug back online is listed offline")
	}
	c.readOK(h.p, h.plug)
	c.apply(h.p, relay(h.plug, true))
}

func checkRemoved(c *check) {
	h := c.home()
	c.list(h.p)
	c.cloud.Remove(h.plug)
	c.cloud.Remove(h.strip)
	devs := c.list(h.p)
	for _, id := range append([]string{h.plug, h.strip}, h.outlets...) {
		if _, ok := devs[id]; ok {
			c.Errorf("removed device %s is still listed", id)
		}
		if st := c.read(h.p, id)[id]; !errors.Is(st.Err, cloud.ErrUnknownDevice) {
			c.Errorf("state of removed device %s: Err %v, want cloud.ErrUnknownDevice", id, st.Err)
		}
	}
	c.wantErr("Apply to a removed plug", h.p.Apply(c.ctx(), relay(h.plug, true)), cloud.ErrUnknownDevice)
	c.readOK(h.p, h.meter)
}

// checkExpiredTokens: an expired token is renewed without the caller
// noticing, once for all the calls that found it expired together.
func checkExpiredTokens(c *check) {
	h := c.home()
	ids := keys(c.list(h.p))
	c.readOK(h.p, ids...)
	_, renewals := c.obs.counts()
	c.cloud.ExpireTokens()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { c.readConcurrently(h.p, ids) })
	}
	wg.Wait()
	if _, now := c.obs.counts(); now != renewals+1 {
		c.Errorf("8 concurrent reads on an expired token renewed it %d times, want once", now-renewals)
	}
	c.cloud.ExpireTokens()
	c.apply(h.p, relay(h.plug, true))
	if !c.cloud.Relay(h.plug) {
		c.Error("a command sent on an expired token did not reach the device")
	}
}

// readConcurrently reads ids from a goroutine other than the test's and
// reports (without stopping the test) any failure.
func (c *check) readConcurrently(p cloud.Provider, ids []string) {
	states, err := p.ReadStates(c.ctx(), ids)
	c.track(err)
	if err != nil {
		c.Errorf("ReadStates: %v", err)
		return
	}
	for _, st := range states {
		c.track(st.Err)
		if st.Err != nil {
			c.Errorf("state of %s: %v", st.DeviceID, st.Err)
		}
	}
}

func checkRefusedCredentials(c *check) {
	h := c.home()
	c.list(h.p)
	c.cloud.RevokeCredentials()
	_, err := h.p.ListDevices(c.ctx())
	c.wantErr("ListDevices with refused credentials", err, cloud.ErrAuth)
	_, err = h.p.ReadStates(c.ctx(), h.ids())
	c.wantErr("ReadStates with refused credentials (an account-wide error)", err, cloud.ErrAuth)
	c.wantErr("Apply with refused credentials", h.p.Apply(c.ctx(), relay(h.plug, true)), cloud.ErrAuth)
}

// checkOutage: HTTP 5xx answers are cloud.ErrUnavailable, 429 is
// cloud.ErrRateLimited, other statuses are neither, and the provider
// works again once the cloud does.
func checkOutage(c *check) {
	h := c.home()
	c.list(h.p)
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable} {
		c.cloud.FailHTTP(1000, status)
		_, err := h.p.ListDevices(c.ctx())
		c.wantErr("ListDevices answered HTTP "+strconv.Itoa(status), err, cloud.ErrUnavailable)
		c.wantReadErr(h.p, []string{h.plug, h.meter}, cloud.ErrUnavailable)
		c.wantErr("Apply answered HTTP "+strconv.Itoa(status), h.p.Apply(c.ctx(), relay(h.plug, true)), cloud.ErrUnavailable)
	}
	c.cloud.FailHTTP(1000, http.StatusTooManyRequests)
	c.wantReadErr(h.p, []string{h.plug}, cloud.ErrRateLimited)
	c.cloud.FailHTTP(0, 0)
	c.readOK(h.p, h.plug, h.meter)

	for _, status := range []int{http.StatusBadRequest, http.StatusNotFound} {
		c.cloud.FailHTTP(1, status)
		_, err := h.p.ListDevices(c.ctx())
		c.track(err)
		if err == nil || errors.Is(err, cloud.ErrUnavailable) {
			c.Errorf("ListDevices answered HTTP %d: %v, want an error that is not cloud.ErrUnavailable", status, err)
		}
		c.cloud.FailHTTP(1, status)
		if err := c.readErr(h.p, h.plug); err == nil || errors.Is(err, cloud.ErrUnavailable) {
			c.Errorf("ReadStates answered HTTP %d: %v, want an error that is not cloud.ErrUnavailable", status, err)
		}
	}
	c.cloud.FailHTTP(0, 0)
	c.readOK(h.p, h.plug)
}

// readErr reads id and returns the account-wide error, else its State.Err.
func (c *check) readErr(p cloud.Provider, id string) error {
	c.Helper()
	states, err := p.ReadStates(c.ctx(), []string{id})
	c.track(err)
	if err != nil {
		return err
	}
	return c.oneEach([]string{id}, states)[id].Err
}

// wantReadErr reads ids and wants target from each: as the account-wide
// error, or in every State.Err.
func (c *check) wantReadErr(p cloud.Provider, ids []string, target error) {
	c.Helper()
	states, err := p.ReadStates(c.ctx(), ids)
	c.track(err)
	if err != nil {
		c.wantErr("ReadStates", err, target)
		return
	}
	for id, st := range c.oneEach(ids, states) {
		c.wantErr("state of "+id, st.Err, target)
	}
}

// checkRequestTimeout: a hung cloud holds no call for longer than the
// request timeout, even when the caller's context has no deadline and the
// HTTP client has no Timeout of its own (as the fakes' clients have none).
func checkRequestTimeout(c *check) {
	h := c.home()
	const timeout = 300 * time.Millisecond
	p := c.provider(Options{RequestTimeout: timeout})
	c.list(p)

	c.cloud.Hang(1000)
	start := time.Now()
	states, err := p.ReadStates(context.Background(), []string{h.plug, h.meter})
	took := time.Since(start)
	c.track(err)
	if err != nil {
		c.Fatalf("ReadStates: %v, want per-device errors", err)
	}
	for _, st := range states {
		c.track(st.Err)
		if !errors.Is(st.Err, cloud.ErrUnavailable) || errors.Is(st.Err, context.DeadlineExceeded) {
			c.Errorf("%s: err = %v, want cloud.ErrUnavailable and no context error", st.DeviceID, st.Err)
		}
	}
	c.Logf("hung state reads failed after %s (request timeout %s)", took.Round(time.Millisecond), timeout)
	if took > 5*timeout {
		c.Errorf("hung reads took %s with a request timeout of %s", took, timeout)
	}

	// A hung login fails in time as well, and the next one succeeds.
	fresh := c.provider(Options{RequestTimeout: timeout, StateDir: c.TempDir()})
	start = time.Now()
	_, err = fresh.ListDevices(context.Background())
	c.track(err)
	if !errors.Is(err, cloud.ErrUnavailable) || time.Since(start) > 5*timeout {
		c.Fatalf("hung login: %v after %s", err, time.Since(start))
	}
	c.cloud.Hang(0)
	c.readOK(p, h.plug, h.meter)
}

// checkCancellation: every method returns promptly once the caller's
// context ends, with an error wrapping ctx.Err().
func checkCancellation(c *check) {
	h := c.home()
	p := c.provider(Options{RequestTimeout: time.Hour})
	c.list(p)
	calls := map[string]func(ctx context.Context) error{
		"ListDevices": func(ctx context.Context) error { _, err := p.ListDevices(ctx); return err },
		"ReadStates":  func(ctx context.Context) error { _, err := p.ReadStates(ctx, h.ids()); return err },
		"Apply":       func(ctx context.Context) error { return p.Apply(ctx, relay(h.plug, true)) },
	}
	for _, name := range keys(calls) {
		ctx, cancel := context.WithCancel(c.Context())
		cancel()
		c.wantErr(name+" with a cancelled context", c.returns(name, ctx, calls[name]), context.Canceled)
	}
	c.cloud.Hang(1000)
	for _, name := range keys(calls) {
		ctx, cancel := context.WithTimeout(c.Context(), 100*time.Millisecond)
		c.wantErr(name+" on a hung cloud past the caller's deadline", c.returns(name, ctx, calls[name]), context.DeadlineExceeded)
		cancel()
	}
	c.cloud.Hang(0)
	c.readOK(p, h.plug)
}

// returns runs call and returns its error, failing the check when it does
// not return within callTimeout after its context ended (it would hang
// forever otherwise: the cloud does not answer).
func (c *check) returns(name string, ctx context.Context, call func(context.Context) error) error {
	c.Helper()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	select {
	case err := <-done:
		c.track(err)
		return err
	case <-time.After(callTimeout):
		c.Fatalf("%s did not return %s after its context ended", name, callTimeout)
		return nil
	}
}

// checkConcurrency: lists, reads and commands from several goroutines at
// once, over a token renewal, all succeed (and -race sees no data race).
func checkConcurrency(c *check) {
	h := c.home()
	ids := keys(c.list(h.p))
	c.cloud.ExpireTokens()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 9 {
				switch i % 3 {
				case 0:
					_, err := h.p.ListDevices(c.ctx())
					c.track(err)
					if err != nil {
						c.Errorf("goroutine %d: ListDevices: %v", g, err)
					}
				case 1:
					c.readConcurrently(h.p, ids)
				case 2:
					err := h.p.Apply(c.ctx(), relay(h.outlets[g%2], i%2 == 0))
					c.track(err)
					if err != nil {
						c.Errorf("goroutine %d: Apply: %v", g, err)
					}
				}
			}
		})
	}
	wg.Wait()
}

// checkOptional checks the optional interfaces a provider implements.
func checkOptional(c *check) {
	h := c.home()
	c.list(h.p)
	if sr, ok := h.p.(cloud.StatsReporter); ok {
		if st := sr.Stats(); !st.LoggedIn || st.CallsToday == 0 {
			c.Errorf("Stats after a successful list = %+v: want logged in and calls counted", st)
		}
	}
	if rn, ok := h.p.(cloud.Renamer); ok {
		for _, id := range []string{h.plug, h.outlets[1]} {
			name := "Renamed " + strconv.Itoa(slices.Index(h.ids(), id))
			err := rn.Rename(c.ctx(), id, name)
			c.track(err)
			if err != nil {
				c.Fatalf("Rename(%s): %v", id, err)
			}
			if got := c.list(h.p)[id].Name; got != name {
				c.Errorf("renamed %s to %q, listed as %q", id, name, got)
			}
		}
	}
}

func relay(id string, on bool) cloud.Command {
	return cloud.Command{DeviceID: id, Action: cloud.ActionSetRelay, On: on}
}

// wantErr fails the check unless err wraps target.
func (c *check) wantErr(what string, err, target error) {
	c.Helper()
	c.track(err)
	if !errors.Is(err, target) {
		c.Errorf("%s: %v, want an error wrapping %v", what, err, target)
	}
}

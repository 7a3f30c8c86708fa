package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// floorSpec is what the floor client does: the state reads the daemon
// made in the measuring window, as bare keep-alive HTTP requests spread
// over the same time. It runs in a child process of its own (floorEnv),
// so that its CPU time is measured alone.
type floorSpec struct {
	Window      time.Duration
	Concurrency int

	KasaURL   string
	KasaCalls int
	// KasaReads are passthrough bodies (deviceId, requestData) to cycle
	// through.
	KasaReads []kasaRead

	TuyaURL   string
	TuyaCalls int
	// TuyaBatches are comma-separated device id lists for the batch
	// status call.
	TuyaBatches []string
}

type kasaRead struct{ DeviceID, RequestData string }

const floorEnv = "KASA2MQTT_BENCH_FLOOR"

// runFloor is the floor child: it reads its spec from the file named by
// floorEnv and exits when done.
func runFloor(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	var s floorSpec
	if err := json.Unmarshal(data, &s); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	if err := s.run(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func (s floorSpec) run() error {
	conc := max(s.Concurrency, 1)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: 2 * conc}}
	ctx := context.Background()
	var jobs []func() error
	if s.KasaCalls > 0 {
		token, err := kasaLogin(ctx, hc, s.KasaURL)
		if err != nil {
			return err
		}
		for i := range s.KasaCalls {
			r := s.KasaReads[i%len(s.KasaReads)]
			jobs = append(jobs, func() error { return kasaPassthrough(ctx, hc, s.KasaURL, token, r) })
		}
	}
	if s.TuyaCalls > 0 {
		tc := &tuyaClient{hc: hc, base: s.TuyaURL}
		if err := tc.grant(ctx); err != nil {
			return err
		}
		for i := range s.TuyaCalls {
			ids := s.TuyaBatches[i%len(s.TuyaBatches)]
			jobs = append(jobs, func() error {
				_, err := tc.call(ctx, "GET", tuyaStatusPath, "device_ids="+ids)
				return err
			})
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	// Interleave the two kinds and pace them evenly over the window, at
	// most conc in flight.
	step := s.Window / time.Duration(len(jobs))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for i, job := range interleave(jobs, s.KasaCalls) {
		time.Sleep(time.Until(start.Add(time.Duration(i) * step)))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := job(); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return firstErr
}

// interleave spreads the second group (from index split) among the first.
func interleave(jobs []func() error, split int) []func() error {
	a, b := jobs[:split], jobs[split:]
	if len(a) == 0 || len(b) == 0 {
		return jobs
	}
	out := make([]func() error, 0, len(jobs))
	every := max(len(a)/len(b), 1)
	for i := range a {
		out = append(out, a[i])
		if i%every == every-1 && len(b) > 0 {
			out = append(out, b[0])
			b = b[1:]
		}
	}
	return append(out, b...)
}

func kasaPost(ctx context.Context, hc *http.Client, url string, body any) (json.RawMessage, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var env struct {
		ErrorCode int             `json:"error_code"`
		Result    json.RawMessage `json:"result"`
	}
	if err := doJSON(hc, req, &env); err != nil {
		return nil, err
	}
	if env.ErrorCode != 0 {
		return nil, fmt.Errorf("kasa error %d", env.ErrorCode)
	}
	return env.Result, nil
}

func kasaLogin(ctx context.Context, hc *http.Client, url string) (string, error) {
	res, err := kasaPost(ctx, hc, url, map[string]any{"method": "login", "params": map[string]any{
		"appType": "Kasa_Android", "cloudUserName": kasaUser, "cloudPassword": kasaPassword,
		"terminalUUID": "2b0c5d8e-0f7a-4b5e-9a51-6f3c2d1e0a9b",
	}})
	if err != nil {
		return "", fmt.Errorf("kasa login: %w", err)
	}
	var r struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Token == "" {
		return "", errors.New("kasa login: no token")
	}
	return r.Token, nil
}

// kasaPassthrough reads a device and decodes its double-encoded answer,
// as any client must.
func kasaPassthrough(ctx context.Context, hc *http.Client, url, token string, r kasaRead) error {
	res, err := kasaPost(ctx, hc, url+"/?token="+token, map[string]any{"method": "passthrough",
		"params": map[string]string{"deviceId": r.DeviceID, "requestData": r.RequestData}})
	if err != nil {
		return fmt.Errorf("kasa passthrough: %w", err)
	}
	var out struct {
		ResponseData string `json:"responseData"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return err
	}
	var answer map[string]any
	return json.Unmarshal([]byte(out.ResponseData), &answer)
}

// tuyaClient signs requests the way the Tuya OpenAPI wants (HMAC-SHA256
// over client id, token, time, nonce and the request).
type tuyaClient struct {
	hc    *http.Client
	base  string
	token string
}

func (c *tuyaClient) grant(ctx context.Context) error {
	res, err := c.call(ctx, "GET", "/v1.0/token", "grant_type=1")
	if err != nil {
		return fmt.Errorf("tuya token: %w", err)
	}
	var r struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.AccessToken == "" {
		return errors.New("tuya token: none in the answer")
	}
	c.token = r.AccessToken
	return nil
}

func (c *tuyaClient) call(ctx context.Context, method, path, query string) (json.RawMessage, error) {
	nb := make([]byte, 16)
	_, _ = rand.Read(nb)
	nonce := hex.EncodeToString(nb)
	t := strconv.FormatInt(time.Now().UnixMilli(), 10)
	empty := sha256.Sum256(nil)
	target := path
	if query != "" {
		target += "?" + query
	}
	sts := method + "\n" + hex.EncodeToString(empty[:]) + "\n\n" + target
	mac := hmac.New(sha256.New, []byte(tuyaSecret))
	mac.Write([]byte(tuyaID + c.token + t + nonce + sts))
	req, err := http.NewRequestWithContext(ctx, method, c.base+target, nil)
	if err != nil {
		return nil, err
	}
	h := req.Header
	h["client_id"] = []string{tuyaID}
	h["sign"] = []string{strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))}
	h["sign_method"] = []string{"HMAC-SHA256"}
	h["t"] = []string{t}
	h["nonce"] = []string{nonce}
	if c.token != "" {
		h["access_token"] = []string{c.token}
	}
	var env struct {
		Success bool            `json:"success"`
		Code    int             `json:"code"`
		Result  json.RawMessage `json:"result"`
	}
	if err := doJSON(c.hc, req, &env); err != nil {
		return nil, err
	}
	if !env.Success {
		return nil, fmt.Errorf("tuya error %d", env.Code)
	}
	return env.Result, nil
}

// doJSON sends req and decodes the answer's body into v.
func doJSON(hc *http.Client, req *http.Request, v any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

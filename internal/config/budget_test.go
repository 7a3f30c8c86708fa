package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// accounts[].budget is an account key every provider takes: parsed in one
// place (cloud.ParseBudget), defaulted per provider (tuya 30000/month,
// kasa none), settable from the environment, its errors at its line.
func TestBudget_DefaultsParsingAndErrors(t *testing.T) {
	c := mustParse(t, "accounts:\n  - provider: kasa\n    username: a@b.c\n"+
		"  - provider: tuya\n    name: trial\n    access_id: abcdefghij\n    access_secret: s\n    region: eu\n"+
		"  - provider: tuya\n    name: paid\n    access_id: abcdefghik\n    access_secret: s\n    region: eu\n    budget: 2000/day\n", "/etc/k/config.yaml")
	want := []cloud.Budget{cloud.NoBudget, {Calls: 30000, Period: cloud.PeriodMonth}, {Calls: 2000, Period: cloud.PeriodDay}}
	for i, w := range want {
		if got := c.Accounts[i].EffectiveBudget(); got != w {
			t.Errorf("accounts[%d] budget %v, want %v", i, got, w)
		}
	}
	if out, err := c.YAML(); err != nil || !strings.Contains(string(out), "budget: 30000/month") {
		t.Errorf("the effective configuration does not show the default budget (%v):\n%s", err, out)
	}

	_, err := Parse([]byte("accounts:\n  - provider: kasa\n    username: a@b.c\n    budget: 30000 a month\n"), "/etc/k/config.yaml")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "accounts[0].budget" || fe.Line != 4 {
		t.Fatalf("bad budget: %v (%+v), want an error at accounts[0].budget, line 4", err, fe)
	}

	c2, err := parseEnv("accounts:\n  - provider: kasa\n    username: a@b.c\n", t.TempDir(), "KASA2MQTT_ACCOUNTS_0_BUDGET=500/day")
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.Accounts[0].EffectiveBudget(); got != (cloud.Budget{Calls: 500, Period: cloud.PeriodDay}) {
		t.Errorf("budget from the environment %v", got)
	}
}

func TestPollConcurrency_Bounds(t *testing.T) {
	for _, v := range []string{"0", "65"} {
		_, err := Parse([]byte("accounts:\n  - provider: kasa\n    username: a@b.c\npoll:\n  concurrency: "+v+"\n"), "/etc/k/config.yaml")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "poll.concurrency" {
			t.Errorf("concurrency %s: %v, want an error at poll.concurrency", v, err)
		}
	}
}

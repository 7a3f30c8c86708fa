package config

import (
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
)

// kasaOf returns a kasa account's settings (a zero one if it has others,
// so that the comparison that uses it fails).
func kasaOf(a Account) *kasa.Config {
	if s, ok := a.Settings.(*kasa.Config); ok {
		return s
	}
	return &kasa.Config{}
}

// tuyaOf returns a tuya account's settings (a zero one if it has others).
func tuyaOf(a Account) *tuya.Config {
	if s, ok := a.Settings.(*tuya.Config); ok {
		return s
	}
	return &tuya.Config{}
}

// kasaAccount returns a kasa account with the given username, default url.
func kasaAcct(name, username string) Account {
	return Account{Provider: "kasa", Name: name, Settings: &kasa.Config{Username: username, URL: kasa.DefaultURL, API: kasa.APIV1}}
}

package kasa

import (
	"encoding/json"
	"testing"
)

// benchSysinfoPlug is the envelope of a metering plug's state read
// (sysinfo and realtime emeter in one passthrough), as the cloud sends it:
// the device's answer is a JSON document inside a JSON string.
var benchSysinfoPlug = func() []byte {
	inner := `{"system":{"get_sysinfo":{"sw_ver":"1.5.10 Build 191125 Rel.094314","hw_ver":"4.0","model":"HS110(EU)",` +
		`"deviceId":"80061122334455667788990011223344556677AA","oemId":"FFF22CFF774A0B89F7624BFC6F50D5DE","hwId":"2448AB56FB7E126DE5CF12F2E3AC48E5",` +
		`"rssi":-58,"latitude_i":0,"longitude_i":0,"alias":"Washing Machine","status":"new","mic_type":"IOT.SMARTPLUGSWITCH",` +
		`"feature":"TIM:ENE","mac":"B0:BE:76:AA:BB:CC","updating":0,"led_off":0,"relay_state":1,"on_time":1234,` +
		`"icon_hash":"","dev_name":"Smart Wi-Fi Plug With Energy Monitoring","active_mode":"none","next_action":{"type":-1},"ntc_state":0,"err_code":0}},` +
		`"emeter":{"get_realtime":{"voltage_mv":231023,"current_ma":54,"power_mw":12500,"total_wh":1234,"err_code":0}}}`
	q, _ := json.Marshal(inner)
	return []byte(`{"error_code":0,"result":{"responseData":` + string(q) + `}}`)
}()

// BenchmarkDecodeStateRead decodes one plug's state read as readGroup
// does: envelope, responseData, sysinfo and emeter.
func BenchmarkDecodeStateRead(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		res, err := decodeEnvelope("passthrough", benchSysinfoPlug)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := parsePassthroughResult(res)
		if err != nil {
			b.Fatal(err)
		}
		m, err := resp.result("system", "get_sysinfo")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := parseSysinfo(m); err != nil {
			b.Fatal(err)
		}
		m, err = resp.result("emeter", "get_realtime")
		if err != nil {
			b.Fatal(err)
		}
		if r, _ := parseEmeter(m); r.PowerW == nil {
			b.Fatal("no power")
		}
	}
}

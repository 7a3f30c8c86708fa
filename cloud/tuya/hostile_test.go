package tuya

import (
	"encoding/json"
	"testing"
)

// A device-list page of nothing but unusable rows is an error: read as an
// empty page it would make the bridge remove every device of the account.
func TestParseDevicePageOfGarbageRowsIsAnError(t *testing.T) {
	for _, raw := range []string{
		`[1,"x",null,{"id":5},{"id":"../x"}]`,
		`{"devices":[{},{"name":"no id"}],"has_more":false}`,
	} {
		if pg, err := parseDevicePage(json.RawMessage(raw)); err == nil {
			t.Errorf("%s: page %+v accepted", raw, pg)
		}
	}
	for _, raw := range []string{`[]`, `{"devices":[],"has_more":false}`, `null`} {
		if pg, err := parseDevicePage(json.RawMessage(raw)); err != nil || len(pg.rows) != 0 {
			t.Errorf("%s: %+v, %v; want an empty page", raw, pg, err)
		}
	}
}

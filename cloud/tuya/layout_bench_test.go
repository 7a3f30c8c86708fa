package tuya

import "testing"

// BenchmarkDeviceLayout is the layout a state read, a push message and a
// command look up for a colour bulb with a specification.
func BenchmarkDeviceLayout(b *testing.B) {
	t := &testing.T{}
	spec := specOf(t, "switch_led:Boolean", `work_mode:Enum:{"range":["white","colour","scene"]}`,
		"bright_value_v2:Integer:"+intv(10, 1000), "temp_value_v2:Integer:"+intv(0, 1000),
		"colour_data_v2:Json:"+hsvv(1000, 1000), "cur_power:Integer:"+intv(0, 50000))
	d := &physDevice{row: ListedDevice{ID: "bulb1", Category: "dj", Supported: true}, spec: spec}
	b.ReportAllocs()
	for b.Loop() {
		if l := d.layout(); l.selfLight() == nil {
			b.Fatal("no light")
		}
	}
}

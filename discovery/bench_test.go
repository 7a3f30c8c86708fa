package discovery

import "testing"

// One discovery payload is built per device on every (re)connect and Home
// Assistant restart. Run with: go test -run=^$ -bench=. -benchmem ./discovery
func BenchmarkPayload(b *testing.B) {
	d := fixtures["metered_plug"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Payload(testConfig, d); err != nil {
			b.Fatal(err)
		}
	}
}

package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkRetainedPublish measures what persistence costs the bridge's
// typical traffic: a QoS 1 retained state publish, waited for (PUBACK),
// delivered at QoS 1 to one subscriber (Home Assistant), with and without
// the bbolt state file. It reports the state file's size and the heap in
// use after the run.
func BenchmarkRetainedPublish(b *testing.B) {
	for _, persist := range []bool{false, true} {
		b.Run(fmt.Sprintf("persistence=%v", persist), func(b *testing.B) {
			opts := Options{Listen: "127.0.0.1:0"}
			if persist {
				opts.StateFile = filepath.Join(b.TempDir(), "broker.db")
			}
			brk, err := Start(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer brk.Close()
			got := make(chan struct{}, 1024)
			sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brk.Addr()).SetClientID("ha"))
			if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
			defer sub.Disconnect(50)
			sub.Subscribe("kasa2mqtt/+", 1, func(paho.Client, paho.Message) { got <- struct{}{} }).Wait()
			pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brk.Addr()).SetClientID("bridge"))
			if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
			defer pub.Disconnect(50)
			payload := []byte(`{"state":"ON","power":12.5,"voltage":230.1,"current":0.054,"energy":1.234,"rssi":-60}`)
			b.ResetTimer()
			for i := range b.N {
				tok := pub.Publish(fmt.Sprintf("kasa2mqtt/plug_%d", i%50), 1, true, payload)
				if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					b.Fatal(tok.Error())
				}
				<-got
			}
			b.StopTimer()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-heap")
			if persist {
				if fi, err := os.Stat(opts.StateFile); err == nil {
					b.ReportMetric(float64(fi.Size())/1024, "KiB-file")
				}
			}
		})
	}
}

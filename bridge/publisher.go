package bridge

import (
	"hash/maphash"
	"maps"
	"slices"

	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// publisher is where the registry's publications go (through the effects
// the run loop carries out). The MQTT implementation is mqttPublisher; the
// registry's tests record the calls instead.
type publisher interface {
	// retain publishes payload retained on topic, unless force is false and
	// it is what was last published there. An empty payload clears the
	// topic on the broker; cleared topics are cleared again by every replay.
	retain(topic string, payload []byte, force bool)
	// announce publishes a device's discovery message m like retain; its
	// removal, if any, comes back as a removalSentEvent once the broker
	// acknowledged it.
	announce(m message, force bool)
	// state publishes a device's JSON state for the device topic segment
	// topic, as the output mode says (JSON and/or one topic per value),
	// unless force is false and it is the state last published there.
	state(topic string, payload []byte, force bool)
	// clear empties a device's retained topics: when configTopic is set
	// and discovery is on, its discovery topic, then state (and its value
	// topics) and availability. Either may be empty.
	clear(topic, configTopic string)
	// send publishes a message that is not retained (a request's answer).
	send(topic string, payload []byte)
	// event publishes a bridge event on <base>/bridge/event; events raised
	// while the broker is away are held and sent, in order, by the next
	// replay.
	event(payload []byte)
	// replay republishes everything retained, in the documented order.
	replay(s replaySet)
}

// replaySet is what the registry holds for a replay, in publication order.
// The publisher adds the bridge state and the cleared discovery topics
// before, and the other cleared topics and the held events after.
type replaySet struct {
	discovery    []message // devices' discovery, strips before outlets
	availability []message // every device's availability
	offline      []message // known devices not listed yet in this run
	states       []message // topic segment and JSON state of every device
	devices      []byte    // <base>/bridge/devices
	bridgeConfig *message  // the bridge's own discovery; nil without discovery
	info         []byte    // <base>/bridge/info; nil if it could not be encoded
}

// sink takes publications without blocking; the outbox is one.
type sink interface{ put(m message) }

// maxHeldEvents bounds the events kept while the broker is away.
const maxHeldEvents = 1000

// mqttPublisher publishes through a sink (the outbox), remembering what was
// last published on every retained topic (the dedup cache and the set of
// cleared topics) and the events held while disconnected. It is owned by
// the run loop and not safe for concurrent use.
type mqttPublisher struct {
	out           sink
	base          string
	output        string
	homeAssistant bool
	// connected reports whether the broker connection is up (and
	// subscribed); events are held while it is not.
	connected func() bool

	// last is a digest of the payload last published on each retained
	// topic (digests, not copies: with thousands of devices the payloads,
	// discovery above all, would be megabytes); an empty one marks a
	// cleared topic.
	last map[string]digest
	// states is the digest of the JSON state last published per device
	// topic segment (kept apart from last: attribute output publishes no
	// JSON topic).
	states map[string]digest
	// configs are the discovery topics among last (cleared by clear): a
	// replay clears them again first, the other cleared topics last.
	configs map[string]bool
	held    []message
}

func newMQTTPublisher(out sink, base, output string, homeAssistant bool, connected func() bool) *mqttPublisher {
	return &mqttPublisher{out: out, base: base, output: output, homeAssistant: homeAssistant, connected: connected,
		last: map[string]digest{}, states: map[string]digest{}, configs: map[string]bool{}}
}

// digest stands for a payload: its length and a 64-bit hash (seeded per
// process). Two payloads with one digest are taken as equal; a collision
// would skip one publication of a changed payload, at odds of 2⁻⁶⁴.
type digest struct {
	size int
	sum  uint64
}

var digestSeed = maphash.MakeSeed()

func digestOf(payload []byte) digest {
	if len(payload) == 0 {
		return digest{}
	}
	return digest{size: len(payload), sum: maphash.Bytes(digestSeed, payload)}
}

func (p *mqttPublisher) retain(topic string, payload []byte, force bool) {
	p.announce(message{topic: topic, payload: payload}, force)
}

func (p *mqttPublisher) announce(m message, force bool) {
	p.put(m, digestOf(m.payload), force)
}

// put publishes m retained unless force is false and d, m's payload's
// digest, is what was last published on its topic.
func (p *mqttPublisher) put(m message, d digest, force bool) {
	prev, seen := p.last[m.topic]
	if !force && seen && prev == d {
		return
	}
	if m.payload == nil {
		m.payload = []byte{}
	}
	m.retained = true
	p.last[m.topic] = d
	p.out.put(m)
}

func (p *mqttPublisher) state(topic string, payload []byte, force bool) {
	d := digestOf(payload)
	if prev, seen := p.states[topic]; !force && seen && prev == d {
		return
	}
	p.states[topic] = d
	st := discovery.StateTopic(p.base, topic)
	if p.output != OutputAttribute {
		p.put(message{topic: st, payload: payload}, d, true)
	}
	if p.output != OutputJSON {
		for _, a := range stateAttributes(payload) {
			p.retain(st+"/"+a.key, a.value, true)
		}
	}
}

func (p *mqttPublisher) clear(topic, configTopic string) {
	if configTopic != "" && p.homeAssistant {
		p.configs[configTopic] = true
		p.retain(configTopic, nil, true)
	}
	if topic == "" {
		return
	}
	delete(p.states, topic)
	st := discovery.StateTopic(p.base, topic)
	p.retain(st, nil, true)
	p.retain(discovery.AvailabilityTopic(p.base, topic), nil, true)
	if p.output != OutputJSON {
		for _, key := range stateKeys {
			p.retain(st+"/"+key, nil, true)
		}
	}
}

func (p *mqttPublisher) send(topic string, payload []byte) {
	p.out.put(message{topic: topic, payload: payload})
}

// event holds the event while disconnected (at start, before the broker
// answered, or during an outage), up to maxHeldEvents (the oldest go
// first). While events are held, later ones join them even if the
// connection is back (the replay may not have run yet), so events always
// go out in order.
func (p *mqttPublisher) event(payload []byte) {
	m := message{topic: p.base + "/bridge/event", payload: payload}
	if !p.connected() || len(p.held) > 0 {
		if len(p.held) >= maxHeldEvents {
			p.held = p.held[1:]
		}
		p.held = append(p.held, m)
		return
	}
	p.out.put(m)
}

// replay publishes, in order: the bridge state online; an empty payload
// again on every discovery topic cleared during this run (a clear
// published while the broker was away is lost); discovery, availability,
// offline for devices known from the previous run but not listed yet,
// states, bridge/devices, the bridge's own discovery, bridge/info; then an
// empty payload again on every other topic cleared during this run (old
// state and availability topics: after the discovery that moved Home
// Assistant's entities away from them); then the held events.
func (p *mqttPublisher) replay(s replaySet) {
	p.retain(discovery.BridgeStateTopic(p.base), availabilityPayload(true), true)
	p.replayClears(true)
	for _, m := range s.discovery {
		p.announce(m, true)
	}
	for _, group := range [][]message{s.availability, s.offline} {
		for _, m := range group {
			p.retain(m.topic, m.payload, true)
		}
	}
	for _, m := range s.states {
		p.state(m.topic, m.payload, true)
	}
	p.retain(p.base+"/bridge/devices", s.devices, true)
	if s.bridgeConfig != nil {
		p.retain(s.bridgeConfig.topic, s.bridgeConfig.payload, true)
	}
	if len(s.info) > 0 {
		p.retain(discovery.BridgeInfoTopic(p.base), s.info, true)
	}
	// Read the cleared set only now: the replay may have published on a
	// cleared topic (a device now holding it).
	p.replayClears(false)
	for _, m := range p.held {
		p.out.put(m)
	}
	p.held = nil
}

// replayClears clears again the discovery topics (configs) or the other
// topics that are cleared now, in topic order.
func (p *mqttPublisher) replayClears(configs bool) {
	for _, topic := range slices.Sorted(maps.Keys(p.last)) {
		if p.last[topic].size == 0 && p.configs[topic] == configs {
			p.retain(topic, nil, true)
		}
	}
}

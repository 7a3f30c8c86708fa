// Package bridge connects cloud providers to MQTT: it owns the MQTT client,
// the device registry and last-state cache, the poll schedule, command
// routing and availability, and publishes Home Assistant discovery through
// the pure discovery package.
//
// Goroutine model (one owner per piece of mutable state):
//
//   - the run loop (Bridge.Run) owns the registry: devices, topics, the last
//     state of every device and what was last published. Everything else
//     talks to it through the events channel;
//   - one poller per account owns that account's schedule and device ids,
//     lists devices every ListInterval and reads states every PollInterval;
//   - one worker per device serialises that device's commands and re-reads,
//     so ON then OFF can never be reordered;
//   - the outbox goroutine owns publishing: the run loop never blocks on the
//     network, and retained topics are coalesced while a publish is slow;
//   - paho's handlers only parse and enqueue (never block).
//
// Cancelling the context given to Run stops everything; Run publishes the
// bridge offline state, disconnects cleanly and waits for its goroutines.
package bridge

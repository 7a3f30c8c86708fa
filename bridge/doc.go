// Package bridge connects cloud providers to MQTT: it owns the MQTT client,
// the device registry and last-state cache, the poll schedule, command
// routing and availability, and publishes Home Assistant discovery through
// the pure discovery package.
//
// Its parts, each in a file named after its type:
//
//   - registry: the devices (by key and by topic), the devices known from
//     the previous run, every device's state, availability and command
//     bookkeeping. Its handlers (device lists, state reads, worker results,
//     MQTT commands, bridge requests, replays) change that state and return
//     effects (publish, clear, start or stop a worker, queue a job, re-list,
//     save a state file, update a gauge, restart, wake it when a delayed
//     clear is due); they never block, do I/O or start goroutines, so the
//     registry is tested alone. registry_clear.go orders the clears of
//     renamed and removed devices so that no Home Assistant entity still
//     subscribed receives one;
//   - topicAllocator: the pure rules that give each device its topic;
//   - accountTracker: each account's status (starting, ok, auth_error,
//     rate_limited, error), logged once per distinct error;
//   - publisher (mqttPublisher): what was last published on each retained
//     topic (to skip unchanged ones), the topics cleared during this run,
//     the events held while disconnected, and the order of a replay;
//   - runLoop: carries out the registry's effects;
//   - poller, worker, outbox: see below;
//   - clock: every timer and time stamp goes through it, so tests run on a
//     fake clock instead of sleeping.
//
// Goroutine model (one owner per piece of mutable state):
//
//   - the run loop (Bridge.Run) owns the registry, the publisher and the
//     workers. Everything else talks to it through channels;
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

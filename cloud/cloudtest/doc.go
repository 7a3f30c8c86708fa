// Package cloudtest checks that a cloud.Provider keeps the contract the
// bridge relies on, in the spirit of testing/fstest: a vendor package runs
//
//	cloudtest.Run(t, func(t *testing.T) cloudtest.Cloud { return newFakeCloud(t) })
//
// against its fake cloud (kasatest, tuyatest), and the same checks hold for
// every provider. Each check starts a fresh Cloud: a fake served over
// loopback with one account on it, which builds providers as the daemon
// does and changes what the fake reports (a button press on a device, a
// device going offline, an expired token, refused credentials, an outage,
// a hung cloud).
//
// The contract checked, from the cloud.Provider documentation:
//   - ListDevices lists every device with a unique ID, the provider's Kind
//     and Account, a printable Name and known, unrepeated Capabilities;
//     strip outlets name a listed strip in ParentID.
//   - ReadStates returns one State per requested ID in any order, with
//     per-device failures in State.Err (cloud.ErrDeviceOffline,
//     cloud.ErrUnknownDevice) and account-wide ones (cloud.ErrAuth) as the
//     error; a State reports values only for declared capabilities, in the
//     units of package cloud; EnergyKWh never decreases, across device
//     counter resets and provider restarts.
//   - Apply returns once the device took the command; a command for an
//     undeclared capability is cloud.ErrUnsupported without a cloud call.
//   - Expired tokens are renewed transparently, once for all concurrent
//     callers; refused credentials are cloud.ErrAuth; an outage or a hung
//     cloud is cloud.ErrUnavailable within the request timeout; the
//     caller's cancellation returns promptly with an error wrapping
//     ctx.Err().
//   - Every method is safe for concurrent use (run the suite with -race).
//   - No secret of the account reaches a log line, an error or an
//     Observer event.
//
// Lights (cloud.CapLight) are checked on Clouds that implement LightCloud:
// each kind (dimmer, colour, tunable-white and dimmable bulb) is listed
// with exactly its capabilities and a valid Kelvin range where it has
// colour temperature, is read with a cloud.LightState and never a relay,
// follows ActionSetLight (on, brightness, temperature, colour, off) on the
// device and in the next read, and refuses what it cannot take
// (cloud.ErrUnsupported, cloud.ErrOutOfRange) without a cloud call.
//
// Optional interfaces are checked when implemented: cloud.StatsReporter,
// cloud.Renamer and cloud.ReadPlanner (every id in exactly one group, the
// same plan for the same ids, each group answered by one ReadStates call
// at no more calls than it says).
package cloudtest

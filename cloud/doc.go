// Package cloud is the neutral device model every provider speaks and the
// small interface the bridge consumes.
//
// A provider (cloud/kasa, later cloud/tuya) turns a vendor cloud account into
// Devices, States and Commands. Nothing vendor-specific crosses this package:
// units are normalised (W, V, A, kWh, dBm), readings beyond the shared
// plausibility limits (MaxPowerW, …) are dropped, energy totals never
// decrease, and
// errors that drive recovery decisions are classified with the sentinel
// errors below so the bridge can use errors.Is without knowing vendor codes.
package cloud

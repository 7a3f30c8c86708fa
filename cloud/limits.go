package cloud

// Plausibility limits of a plug's energy-meter readings, in the base units
// of State (W, V, A, kWh). A plug reporting more sends garbage: providers
// drop such a reading (and say why in the log) rather than publish it. The
// limits are far above any real plug, so they never cut a true reading.
const (
	// MaxPowerW is the highest plausible power: 100 kW.
	MaxPowerW = 100_000
	// MaxVoltageV is the highest plausible voltage: 1 kV.
	MaxVoltageV = 1_000
	// MaxCurrentA is the highest plausible current: 1 kA.
	MaxCurrentA = 1_000
	// MaxEnergyCounterKWh is the highest plausible value of a device's own
	// energy counter (a total since the device last reset it, as Kasa
	// reports): 1 GWh.
	MaxEnergyCounterKWh = 1_000_000
	// MaxEnergyReportKWh is the highest plausible energy of one report of
	// the energy used since the previous report (Tuya's add_ele): 1 MWh,
	// MaxPowerW for ten hours. It is stricter than MaxEnergyCounterKWh
	// because such a value, once accepted, would stay in the lifetime total
	// for good.
	MaxEnergyReportKWh = 1_000
)

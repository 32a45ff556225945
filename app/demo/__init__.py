"""`lineside demo`: the whole system on one machine, on simulated devices."""

"""Reading the legacy service's node-persist storage and planning its import."""

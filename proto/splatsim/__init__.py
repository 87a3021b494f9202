"""splatsim wire contract packages (see proto/splatsim/v1)."""

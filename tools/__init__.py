"""The `splatsim` command line: the only place that parses arguments and wires the parts."""

"""The simulator's data types: scenario, road map, world state and actions, observations."""

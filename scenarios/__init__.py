"""Scenarios from logged data: the nuScenes adapter, scenario files, the demo town, adversaries."""

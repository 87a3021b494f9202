"""Ego motion: the kinematic bicycle with actuator lags, and the trajectory tracker."""

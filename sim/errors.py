"""The project's exceptions. Each message names the file, the record or field, and the fix."""

from __future__ import annotations


class SplatsimError(Exception):
    """Base of every problem a user can cause (bad data, bad arguments, bad requests)."""


class DatasetError(SplatsimError):
    """A dataroot, table, record or map that cannot be used as it is."""


class ScenarioFileError(SplatsimError):
    """A scenario file that is missing, corrupt or of an unsupported version."""


class SceneFileError(SplatsimError):
    """A Gaussian scene file (PLY) that is missing, truncated or malformed."""


class ConfigError(SplatsimError):
    """A configuration value or command-line argument that is out of range."""


class ActionError(SplatsimError):
    """An action (trajectory or controls) that the engine cannot execute."""


class PolicyTerminated(SplatsimError):
    """A policy ended its episode early (an AlpaSim driver's `terminate_session`). `run_episode`
    ends the episode with EndReason.POLICY_TERMINATED; anywhere else it reaches the user."""

"""Errors that name the thing at fault; the CLI prints them without a traceback."""


class HMWorldError(Exception):
    """Base class for user-facing errors."""


class ConfigError(HMWorldError):
    """A configuration or catalog entry is invalid."""


class SplitError(HMWorldError):
    """A split folder is missing, malformed, or belongs to a different split."""

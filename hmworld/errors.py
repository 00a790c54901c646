"""Errors that name the thing at fault; the CLI prints them without a traceback."""


class HMWorldError(Exception):
    """Base class for user-facing errors."""


class ConfigError(HMWorldError):
    """A configuration or catalog entry is invalid."""


class SplitError(HMWorldError):
    """A split folder is missing, malformed, or belongs to a different split."""


class RenderFailure(HMWorldError):
    """A renderer could not finish a clip (after its own retries). The render job discards the partial clip,
    renders the same candidate again from its first frame, and after `failures.max_retries_per_clip` records
    the clip as failed and goes on."""

"""Errors that the CLI turns into one clear line and a non-zero exit."""


class CatFollowError(Exception):
    """Base for errors a user can act on; the message says what and how to fix it."""


class ConfigError(CatFollowError):
    """A config file or value is wrong; the message names the key."""


class ModelError(CatFollowError):
    """The detector model or its label map is missing, corrupt or unsupported."""


class SourceError(CatFollowError):
    """A frame source cannot be opened (missing file, not a video, camera busy)."""

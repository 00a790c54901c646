"""The split format (see README "Split format"): writer, reader and the manifest schema."""
from hmworld.split.format import FORMAT_VERSION, ClipRecord
from hmworld.split.reader import CameraTrack, Clip, Split

__all__ = ["FORMAT_VERSION", "CameraTrack", "Clip", "ClipRecord", "Split"]

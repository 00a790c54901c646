"""What a vision-language captioner is shown and asked: uniformly sampled frames and an HM-World-style prompt.

Kept free of torch/transformers so the prompt and the frame sampling can be tested (and reused by any model
wrapper) without loading a model.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from hmworld.captioners import phrases
from hmworld.captioners.base import CaptionRequest
from hmworld.errors import HMWorldError
from hmworld.split.format import one_line

# The HM-World release captions are one paragraph: the place, then every moving subject with its look and its
# motion (including leaving the view and coming back), then the camera. The instruction asks for exactly that
# order so captions from different models read alike, and forbids the frame-by-frame narration VLMs default to.
HMWORLD_PROMPT = (
    "These {num_frames} frames are sampled uniformly, in order, from one short video clip. "
    "Write a caption for the whole clip as a single paragraph of three to six sentences in plain English, "
    "present tense, without lists, headings or line breaks. "
    "First describe the scene: the kind of place, the ground, notable objects and the lighting. "
    "Then describe each moving subject (person or animal) in turn: its appearance (what it is, clothing or coat, "
    "colours) and its action (how it moves and where it goes, including when it leaves the view and when it "
    "comes back into view). "
    "Finally describe the camera's motion over the clip (for example panning, tilting, orbiting, moving forward "
    "or sideways, rising or lowering) and its direction. "
    "Describe only what can be seen; do not mention frames, images, renders or this instruction."
)

# Optional grounding from the clip's metadata (the ground truth the renderer used): the subjects visible in the
# clip (only those: a subject that never appears must not be suggested to the model), their appearance, and when
# each leaves the view and comes back (few sampled frames easily miss a short absence). The actions and the
# camera motion are left to what the model sees, so the caption still comes from pixels.
HINT = "For reference, the clip shows {count} moving subject{plural}: {subjects}. The setting is {scene}."


def _hinted_subject(s) -> str:
    """"a man in a grey suit (leaves the view near the end of the first half and comes back ...)"."""
    seen = phrases.visibility_phrase(replace(s, pronoun="it"))  # third-person singular, whoever it is
    return f"{s.description} ({seen})" if seen else s.description


def build_prompt(request: CaptionRequest, num_frames: int, metadata_hints: bool = True,
                 template: str | None = None) -> str:
    """The instruction for one clip. `template` replaces HMWORLD_PROMPT and may use {num_frames}, {scene},
    {subjects} (the visible subjects' descriptions joined by '; ') and {camera} (the camera's motion in prose).
    Only the request's subjects, which are the clip's visible ones, are ever named."""
    subjects = "; ".join(s.description for s in request.subjects)
    fields = {"num_frames": num_frames, "scene": request.scene, "subjects": subjects, "camera": request.camera}
    try:
        text = (template or HMWORLD_PROMPT).format(**fields)
    except (KeyError, IndexError) as exc:
        raise HMWorldError(f"captioner prompt template uses an unknown field {exc}; available: {sorted(fields)}") from exc
    if metadata_hints and request.subjects:
        n = len(request.subjects)
        listed = "; ".join(_hinted_subject(s) for s in request.subjects)
        text += " " + HINT.format(count=n, plural="" if n == 1 else "s", subjects=listed, scene=request.scene)
    return text


def sample_frame_indices(total: int, count: int) -> list[int]:
    """`count` indices spread uniformly over [0, total): the centre of each of `count` equal segments, so the
    first and last frames of the clip are both represented and the context and target halves equally."""
    if total < 1:
        raise HMWorldError(f"cannot sample frames from a video with {total} frames")
    if count < 1:
        raise HMWorldError(f"num_frames={count} must be >= 1")
    count = min(count, total)
    return [int((i + 0.5) * total / count) for i in range(count)]


def load_frames(path: str | Path, count: int, max_side: int | None = None) -> list:
    """`count` uniformly sampled RGB frames of the video as PIL images (decoded once, only those kept).

    `max_side` shrinks frames whose longer side exceeds it (aspect kept), which bounds the number of visual
    tokens for processors that keep the native resolution.
    """
    import av
    from PIL import Image

    path = Path(path)
    if not path.exists():
        raise HMWorldError(f"captioner: video {path} does not exist")
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            total = int(stream.frames or 0)
            if total > 0:
                wanted = set(sample_frame_indices(total, count))
                frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(stream)) if i in wanted]
            else:  # the container does not say how many frames: decode all (clips are short), then pick
                every = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
                total = len(every)
                wanted = set(sample_frame_indices(total, count))
                frames = [every[i] for i in sorted(wanted)]
    except (av.error.FFmpegError, IndexError) as exc:
        raise HMWorldError(f"captioner: cannot decode {path} ({exc})") from exc
    if len(frames) != len(wanted):
        raise HMWorldError(f"captioner: {path} declares {total} frames but {len(frames)} of the {len(wanted)} "
                           "sampled ones could be decoded")
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    if max_side:
        images = [_shrink(im, int(max_side)) for im in images]
    return images


def _shrink(image, max_side: int):
    w, h = image.size
    if max(w, h) <= max_side:
        return image
    scale = max_side / max(w, h)
    from PIL import Image

    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)


def clean_model_reply(text: str) -> str:
    """A captioning model's reply as a caption: one line (models add line breaks the split format cannot hold)
    without the quotes some models put around it."""
    text = one_line(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def chunks(items: Sequence, size: int) -> list[list]:
    size = max(1, int(size))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]

"""Per-clip annotation records (camera.json, subjects.json; hmworld.split.schema) from a ClipSpec and its masks.

Boxes are [x0, y0, x1, y1] in pixels, x right and y down, pixel i covering [i, i+1): a box holding exactly
pixel columns 3..5 is [3, ., 6, .]. `box` is the projection of the whole body as the renderer draws it
(hmworld.body.BodyModel: every primitive, or every skinned vertex with `subjects_style=asset`, in front of the
camera), clipped to the image, whether or not something hides it; `visible_box` bounds the subject's pixels in
the instance mask.
"""
from __future__ import annotations

import numpy as np

from hmworld.body import Body, BodyModel
from hmworld.catalog import Catalog
from hmworld.clipspec import ClipSpec
from hmworld.geometry import project, world_to_camera
from hmworld.split.schema import CameraFile, SubjectEntry, SubjectFrame, SubjectsFile

NEAR = 0.1


def camera_file(spec: ClipSpec) -> CameraFile:
    """camera.json of a clip: poses rounded to 7 decimals (0.1 micrometre), the precision the format promises."""
    return CameraFile(spec.video.width, spec.video.height, spec.video.fps, spec.intrinsics.to_dict(),
                      [[round(float(x), 7) for x in m.reshape(16)] for m in spec.camera_c2w])


def projected_boxes(spec: ClipSpec, body: Body, transforms: np.ndarray) -> np.ndarray:
    """[F, 4] full projected boxes of one primitive body (transforms: [F, P, 4, 4] from
    Body.posed_transforms); see box_of_points."""
    return box_of_points(spec, body.world_points(transforms))


def subject_boxes(spec: ClipSpec, catalog: Catalog, bodies: BodyModel) -> list[np.ndarray]:
    """Full projected boxes of every subject of the clip, as the body model (the renderer's) shapes them."""
    return [box_of_points(spec, bodies.world_points(catalog.subjects[t.name], t.positions, t.headings,
                                                    t.walk_phase, spec.video.fps)) for t in spec.subjects]


def box_of_points(spec: ClipSpec, world: np.ndarray) -> np.ndarray:
    """[F, 4] boxes of world points [F, V, 3] (NaN rows where no point is in front of the camera or the
    projection misses the image)."""
    cam = world_to_camera(world, spec.camera_c2w[:, None])
    uv = project(cam, spec.intrinsics) + 0.5  # OpenCV pixel centres -> pixel-edge coordinates
    front = cam[..., 2] > NEAR
    big = np.float64(1e9)
    x0 = np.where(front, uv[..., 0], big).min(1)
    y0 = np.where(front, uv[..., 1], big).min(1)
    x1 = np.where(front, uv[..., 0], -big).max(1)
    y1 = np.where(front, uv[..., 1], -big).max(1)
    w, h = spec.video.width, spec.video.height
    boxes = np.stack([np.clip(x0, 0, w), np.clip(y0, 0, h), np.clip(x1, 0, w), np.clip(y1, 0, h)], axis=1)
    empty = ~front.any(1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    boxes[empty] = np.nan
    return boxes


def mask_boxes(instances: np.ndarray, instance_id: int) -> np.ndarray:
    """[F, 4] bounding boxes of the instance's mask pixels (NaN rows where it shows no pixel)."""
    hit = instances == instance_id
    rows, cols = hit.any(2), hit.any(1)  # [F, H], [F, W]
    out = np.full((len(instances), 4), np.nan)
    has = rows.any(1)
    if has.any():
        r, c = rows[has], cols[has]
        out[has, 1] = r.argmax(1)
        out[has, 3] = r.shape[1] - r[:, ::-1].argmax(1)
        out[has, 0] = c.argmax(1)
        out[has, 2] = c.shape[1] - c[:, ::-1].argmax(1)
    return out


def _box_list(b: np.ndarray) -> list[float] | None:
    return None if np.isnan(b).any() else [round(float(x), 2) for x in b]


def subjects_file(spec: ClipSpec, catalog: Catalog, full_boxes: list[np.ndarray], visible_boxes: list[np.ndarray],
                  pixel_counts: np.ndarray) -> SubjectsFile:
    """subjects.json of a clip. pixel_counts: [F, S] mask pixels per subject, columns in spec.subjects order."""
    subjects = []
    for j, track in enumerate(spec.subjects):
        sub = catalog.subjects[track.name]
        frames = [SubjectFrame(
            position=[round(float(x), 4) for x in track.positions[f]],
            heading=round(float(track.headings[f]), 5),
            box=_box_list(full_boxes[j][f]),
            visible_box=_box_list(visible_boxes[j][f]),
            visible_pixels=int(pixel_counts[f, j]),
        ) for f in range(spec.num_frames)]
        subjects.append(SubjectEntry(
            instance_id=track.instance_id, name=track.name, kind=sub.kind, coco_class=sub.coco_class,
            coco_name=sub.coco_name, description=sub.description, trajectory=track.trajectory,
            speed=round(track.speed, 4), height=sub.height, frames=frames,
        ))
    return SubjectsFile(subjects)

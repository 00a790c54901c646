from pathlib import Path

import pytest

from hmworld.catalog import BODY_PLANS, COCO_CLASSES, load_catalog
from hmworld.errors import ConfigError


def test_catalog_is_sized_like_the_original(catalog):
    assert len(catalog.scenes) == 17
    assert len(catalog.subjects) == 49
    assert len(catalog.subject_trajectories) == 12
    kinds = [c.kind for c in catalog.camera_trajectories.values()]
    assert kinds.count("free") == 28  # the first wave's motions stay selectable
    assert sorted(c.mode for c in catalog.camera_trajectories.values() if c.kind == "track") == [
        "alongside", "follow", "lead"]
    assert {s.kind for s in catalog.subjects.values()} == {"human", "animal"}
    assert {s.body_plan for s in catalog.subjects.values()} == set(BODY_PLANS)
    assert all(s.coco_class in COCO_CLASSES.values() for s in catalog.subjects.values())
    assert len({t.type for t in catalog.subject_trajectories.values()}) == 11


def test_scenes_have_occluders_lighting_and_unreal_levels(catalog):
    for scene in catalog.scenes.values():
        assert scene.props, scene.name
        assert scene.unreal_level.startswith("/Game/"), scene.name
        assert 0 < scene.lighting.ambient < 1
    for subject in catalog.subjects.values():
        assert subject.unreal_asset.startswith("/Game/"), subject.name


def test_partitions_are_disjoint_and_each_has_humans_and_animals(catalog):
    train, test = catalog.partitions["train"], catalog.partitions["test"]
    assert not set(train.scenes) & set(test.scenes)
    assert not set(train.subjects) & set(test.subjects)
    assert set(train.scenes) | set(test.scenes) == set(catalog.scenes)
    assert set(train.subjects) | set(test.subjects) == set(catalog.subjects)
    for part in (train, test):
        assert {catalog.subjects[n].kind for n in part.subjects} == {"human", "animal"}


def test_select_rejects_unknown_and_out_of_partition_names(catalog):
    with pytest.raises(ConfigError, match="unknown scenes name.*'moon_base'"):
        catalog.select("scenes", ["moon_base"], catalog.partitions["train"].scenes)
    with pytest.raises(ConfigError, match="not in the chosen partition"):
        catalog.select("scenes", ["garden"], catalog.partitions["train"].scenes)


def _write(root: Path, group: str, name: str, text: str) -> None:
    (root / group).mkdir(parents=True, exist_ok=True)
    (root / group / f"{name}.yaml").write_text(text)


def test_bad_catalog_entries_name_the_entry_and_the_fault(tmp_path):
    _write(tmp_path, "subject", "blob", "kind: robot\ncoco_class: person\nbody_plan: humanoid\ndescription: x\n"
           "height: 1.7\ncolors: {top: [1, 0, 0]}\nspeed: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"subject 'blob': unknown kind 'robot'"):
        load_catalog([tmp_path])
    (tmp_path / "subject" / "blob.yaml").unlink()
    _write(tmp_path, "scene", "tiny", "description: x\nextent: [2, 2]\nground: {color: [0.5, 0.5, 0.5]}\n"
           "lighting: {sun_azimuth_deg: 0, sun_elevation_deg: 40, sun_color: [1,1,1], ambient: 0.5, "
           "sky_top: [0,0,1], sky_horizon: [1,1,1]}\n")
    with pytest.raises(ConfigError, match=r"scene 'tiny': extent"):
        load_catalog([tmp_path])
    (tmp_path / "scene" / "tiny.yaml").unlink()
    _write(tmp_path, "camera_trajectory", "spin", "description: x\nmotions: [{motion: barrel_roll, amplitude: 1}]\n"
           "distance: [1, 2]\nheight: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"camera_trajectory 'spin': unknown motion 'barrel_roll'"):
        load_catalog([tmp_path])


def test_extra_catalog_folder_adds_entries(tmp_path, catalog):
    src = Path(str(__import__("hmworld.render_configs").render_configs.__file__)).parent
    _write(tmp_path, "scene", "courtyard_copy", (src / "scene" / "courtyard.yaml").read_text())
    extended = load_catalog([tmp_path])
    assert len(extended.scenes) == len(catalog.scenes) + 1
    assert extended.scenes["courtyard_copy"].props == catalog.scenes["courtyard"].props

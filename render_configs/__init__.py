"""Hydra config groups: the HM-World catalog (scene/, subject/, subject_trajectory/, camera_trajectory/, partition/) and the command configs.

The command configs and the renderer/captioner/model groups are presets of typed schemas (hmworld.configs),
registered here because Hydra imports this package before it reads any of them."""
from hmworld.configs import register

register()

"""Hydra config groups: the HM-World catalog (scene/, subject/, subject_trajectory/, camera_trajectory/, partition/) and the command configs."""

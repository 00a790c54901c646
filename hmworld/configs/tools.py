"""`hmworld import-hmworld`, `stats` and `ucv-sim`: typed schemas."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from omegaconf import MISSING


@dataclass
class ImportConfig:
    src: str = MISSING  # the release folder holding captions.txt and the clip folders
    out: str = MISSING  # the split folder to write (resumable: rerun to continue)
    partition: str = "release"  # manifest `partition` and clip id prefix
    hfov_deg: float = 90.0  # camera field of view for camera.json (the release gives none; UE's default is 90)
    limit: Optional[int] = None  # import only the first N clips listed in captions.txt
    progress: bool = True


@dataclass
class StatsConfig:
    split: str = MISSING  # the split folder (complete, or in progress: then the clips written so far)
    reference: Optional[str] = None  # a reference profile (YAML file), or a shipped one's name: hmworld_examples
    out: Optional[str] = None  # folder for stats.json and stats.html; null: ./stats-<split folder name>
    strict: bool = False  # exit with status 1 when any reference figure lies outside its range
    progress: bool = True


@dataclass
class FaultsConfig:
    drop_after: int = 0  # close the connection without answering
    error_after: int = 0  # answer `error <error_message>` instead of running the command
    stall_after: int = 0  # answer after stall_s seconds (or never, if the client leaves first)
    crash_after: int = 0  # exit the process at once (a crashed game)
    match: str = ""
    repeat: bool = False
    stall_s: float = 30.0
    delay_s: float = 0.0  # added to every request (a slow game)
    error_message: str = "simulated failure (fault injection)"


@dataclass
class UcvSimConfig:
    host: str = "127.0.0.1"
    port: int = 9000  # 0: pick a free port (printed at start)
    project: str = "HMWorld"  # the greeting says `connected to <project>`
    catalog_dirs: List[str] = field(default_factory=list)  # extra catalog folders (levels, subject assets)
    verbose: bool = False  # print every connection and fault
    faults: FaultsConfig = field(default_factory=FaultsConfig)


SCHEMAS = [
    (None, "import_hmworld_schema", ImportConfig),
    (None, "stats_schema", StatsConfig),
    (None, "ucv_sim_schema", UcvSimConfig),
]

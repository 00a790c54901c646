"""`renderer=unrealcv`: draws ClipSpecs in a running UE5 game through the UnrealCV plugin.

The game is either launched here (a packaged binary started headless with `-RenderOffScreen -cvport=N` on a
port picked free; readiness by polling the connection) or already running at `host:port`. Per clip:

1. load the scene's level (`vset /action/game/level`, then wait until `vget /scene/name` says so), make sure
   the capture camera exists, note the annotation colours the level already uses;
2. destroy subjects left from an earlier clip, spawn each subject from its catalog asset path
   (`vset /objects/spawn_from_path <Blueprint class> HMW_<k>`) and give it an annotation colour no other
   actor uses; set the capture size and horizontal field of view from the ClipSpec; pause the game;
3. per frame: one `vbatch` that sets the camera pose and every subject's pose and animation phase (through
   the HMWorld subject Blueprint interface, see ue_project/), so they change in the same tick; then lit
   RGB (png), object mask (png) and, when asked, depth (npy, cm). Object-mask colours map to the clip's
   instance ids; all the frame's requests travel pipelined in one round trip.

Poses go through `hmworld.ue_axes` (the one module that knows UE axes). A failure (dropped connection,
`error ...` reply, timeout, crashed game) closes the connection (and kills a game we launched that hung or
died) and raises `RenderFailure`; the render job discards the partial clip and renders it again from its
first frame, and the next clip reconnects here with exponential backoff, relaunching the game where we
launched it.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from hmworld.catalog import Catalog
from hmworld.clipspec import ClipSpec
from hmworld.errors import ConfigError, HMWorldError, RenderFailure
from hmworld.render.base import Frame, Renderer
from hmworld.ue_axes import c2w_to_ue_pose, heading_to_ue_yaw, ue_hfov_deg, world_to_ue_location

SUBJECT_PREFIX = "HMW_"
DEFAULT_SETUP_COMMANDS = (
    # Captures must depend only on the frame's state: no motion blur, no auto exposure, no temporal AA history.
    "vrun r.MotionBlurQuality 0",
    "vrun r.EyeAdaptationQuality 0",
    "vrun r.AntiAliasingMethod 1",
)
DEFAULT_LAUNCH_ARGS = ("-RenderOffScreen", "-cvport={port}", "-nosound", "-unattended", "-NoVerifyGC")
_CAPABILITY_WARNING = "The connected UnrealCV server may not support command"


def _import_unrealcv():
    try:
        import unrealcv
    except ImportError as exc:
        raise ConfigError("renderer=unrealcv needs the UnrealCV client: pip install 'hmworld[unreal]' "
                          f"(unrealcv>=1.1); importing it failed: {exc}") from exc
    return unrealcv


@contextlib.contextmanager
def _quiet_client():
    """The client prints to stdout and logs every refused connection at ERROR level; while we poll a game that
    is starting, that is expected, so silence both (the failure we report names the cause)."""
    logger = logging.getLogger("unrealcv")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # we check the server's command list ourselves once per connection (see _check_capabilities)
            warnings.filterwarnings("ignore", message=_CAPABILITY_WARNING, category=UserWarning)
            yield
    finally:
        logger.setLevel(level)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _num(x) -> str:
    """Exact decimal text of a float (the shortest repr that reads back to the same double)."""
    v = float(x)
    if not np.isfinite(v):
        raise RenderFailure(f"non-finite value {v} in a pose")
    return repr(v)


def _is_error(reply) -> bool:
    return isinstance(reply, str) and reply.lstrip().lower().startswith("error")


class GameProcess:
    """A packaged UE5 game we started: launched with its log in a file, killed when it hangs or we close.
    Without a log_dir the logs go to a temporary folder made at the first launch and removed on close, unless a
    failure message named a log in it."""

    def __init__(self, binary: str | Sequence[str], args: Sequence[str], log_dir: str | None):
        self.command = shlex.split(binary) if isinstance(binary, str) else [str(b) for b in binary]
        if not self.command:
            raise ConfigError("renderer.runtime.binary is empty")
        self.args = [str(a) for a in args]
        self.log_dir = Path(log_dir) if log_dir else None
        self._temporary_logs = not log_dir
        self.keep_logs = False
        self.proc: subprocess.Popen | None = None
        self.launches = 0
        self.log_path: Path | None = None

    def launch(self, port: int) -> None:
        self.stop()
        if os.sep in self.command[0] and not Path(self.command[0]).exists():
            raise ConfigError(f"renderer.runtime.binary {self.command[0]} does not exist (the packaged game: "
                              "see ue_project/README.md)")
        self.launches += 1
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="hmworld-ue-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"game-{self.launches}.log"
        cmd = self.command + [a.format(port=port, launch=self.launches) for a in self.args]
        with open(self.log_path, "wb") as log:
            try:
                # own session: stopping it reaches the whole process group (UE's .sh starts the real binary)
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
            except OSError as exc:
                raise ConfigError(f"could not start the game {cmd[0]}: {exc}") from exc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, lines: int = 8) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((15, 10.0), (9, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def close(self) -> None:
        self.stop()
        if self._temporary_logs and not self.keep_logs and self.log_dir is not None:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.log_dir = self.log_path = None


class _Failure(Exception):
    """Internal: a request failed. `hung`: the game stopped answering (kill it if we launched it);
    `transient`: the link failed (lost or timed out), so trying again on a new connection can succeed, unlike
    an `error ...` reply, which the same request would get again."""

    def __init__(self, message: str, hung: bool = False, transient: bool = False):
        super().__init__(message)
        self.hung, self.transient = hung, transient or hung


class UnrealCVRenderer(Renderer):
    """See the module docstring. Constructor arguments come from `render_configs/renderer/unrealcv.yaml`:
    identity keys (they change the pixels) at the top, connection and launch keys under `runtime`."""

    name = "unrealcv"

    def __init__(self, catalog: Catalog, read_depth: bool = False, camera_id: int = 1, mask_tolerance: int = 3,
                 sky_depth_cm: float = 60000.0, setup_commands: Sequence[str] = DEFAULT_SETUP_COMMANDS,
                 host: str = "127.0.0.1", port: int = 9000, binary: str | Sequence[str] | None = None,
                 launch_args: Sequence[str] = DEFAULT_LAUNCH_ARGS, log_dir: str | None = None,
                 connect_timeout_s: float = 120.0, request_timeout_s: float = 30.0, level_timeout_s: float = 120.0,
                 max_reconnects: int = 4, backoff_s: float = 1.0, backoff_max_s: float = 30.0):
        super().__init__(catalog)
        self.read_depth = bool(read_depth)
        self.camera_id = int(camera_id)
        self.mask_tolerance = int(mask_tolerance)
        self.sky_depth_cm = float(sky_depth_cm)
        self.setup_commands = [str(c) for c in setup_commands]
        self.host, self.port = str(host), int(port)
        self.connect_timeout_s, self.request_timeout_s = float(connect_timeout_s), float(request_timeout_s)
        self.level_timeout_s = float(level_timeout_s)
        self.max_reconnects, self.backoff_s, self.backoff_max_s = int(max_reconnects), float(backoff_s), float(backoff_max_s)
        if self.camera_id < 0 or not 0 <= self.mask_tolerance < 64:
            raise ConfigError(f"renderer: camera_id must be >= 0 and mask_tolerance in [0, 64), got "
                              f"{self.camera_id}, {self.mask_tolerance}")
        if min(self.connect_timeout_s, self.request_timeout_s, self.level_timeout_s) <= 0 or self.max_reconnects < 0:
            raise ConfigError("renderer.runtime: timeouts must be > 0 and max_reconnects >= 0")
        self.game = GameProcess(binary, launch_args, log_dir) if binary else None
        _import_unrealcv()  # a clear error when the `unreal` extra is missing, before the client module
        from hmworld.render.unrealcv_client import Client

        self._client_cls = Client
        self._client = None
        self._level: str | None = None  # level loaded on this connection
        self._used_colors: list[tuple[int, int, int]] | None = None  # annotation colours of the level's actors
        self.connects = 0  # successful connections (the first and every reconnect)

    # ------------------------------------------------------------------------------- connection
    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        self._disconnect()
        if self.game is not None:
            self.game.close()

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        self._level, self._used_colors = None, None
        if client is not None:
            with _quiet_client():
                client.disconnect()

    def _connect(self) -> None:
        """A live connection, launching or relaunching our game as needed, retried with exponential backoff."""
        if self._client is not None and self._client.isconnected():
            return
        self._disconnect()
        errors = []
        for attempt in range(self.max_reconnects + 1):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s))
            try:
                if self.game is not None and not self.game.alive():
                    self.port = free_port(self.host)
                    self.game.launch(self.port)
                self._client = self._open(self.connect_timeout_s)
                self._on_connect()
                self.connects += 1
                return
            except (_Failure, ConnectionError, TimeoutError, OSError) as exc:
                errors.append(f"try {attempt + 1}: {exc}")
                hung = isinstance(exc, (TimeoutError, socket.timeout)) or getattr(exc, "hung", False)
                self._disconnect()
                if self.game is not None and hung:
                    self.game.stop()
        if self.game is not None:
            self.game.keep_logs = True  # the message below names the log
        where = f"the game we launched ({' '.join(self.game.command)}, log {self.game.log_path})" if self.game \
            else f"UnrealCV at {self.endpoint} (is the game running with the UnrealCV plugin on that port?)"
        raise RenderFailure(f"could not connect to {where} after {self.max_reconnects + 1} tries: "
                            + "; ".join(errors))

    def _open(self, timeout: float):
        """Poll until the server greets us (readiness is the greeting, not a sleep)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.game is not None and not self.game.alive():
                raise ConnectionError(f"the game exited with code {self.game.exit_code()} while starting; log "
                                      f"tail:\n{self.game.log_tail()}")
            client = self._client_cls((self.host, self.port))
            ok = self._greet(client, max(deadline - time.monotonic(), 0.5))
            if ok:
                return client
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no UnrealCV greeting from {self.endpoint} within {timeout:g} s")
            time.sleep(0.25)

    @staticmethod
    def _greet(client, timeout: float) -> bool:
        """`Client.connect` blocks on the greeting with no timeout (a hung game accepts TCP but never greets),
        so run it on a helper thread and give up after `timeout`."""
        result: dict = {}

        def run():
            with _quiet_client():
                result["ok"] = client.connect()

        t = threading.Thread(target=run, name="unrealcv-connect", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            sock = client.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            t.join(5.0)
            with _quiet_client():
                client.disconnect()
            return False
        return bool(result.get("ok"))

    def _on_connect(self) -> None:
        self._check_capabilities()
        for cmd in self.setup_commands:
            self._request(cmd)

    def _check_capabilities(self) -> None:
        """Warn once, naming them, if the server does not list commands this renderer sends."""
        listing = self._request("vget /unrealcv/commands")
        templates = [" ".join(line.split()) for line in str(listing).splitlines() if line.strip()]
        if not templates:
            return
        match = _import_unrealcv().ApiVersionManager.matches_command_template
        cam = self.camera_id
        probe = [f"vset /camera/{cam}/location 0.0 0.0 0.0", f"vset /camera/{cam}/rotation 0.0 0.0 0.0",
                 f"vset /camera/{cam}/fov 60.0", f"vset /camera/{cam}/size 64 48", f"vget /camera/{cam}/lit png",
                 f"vget /camera/{cam}/object_mask png", f"vget /camera/{cam}/depth npy",
                 "vset /objects/spawn_from_path /Game/A.A_C HMW_1", "vset /object/HMW_1/color 1 2 3", "vbatch 2",
                 "vset /action/game/level /Game/Maps/M", "vget /scene/name", "vset /action/game/pause"]
        missing = [p for p in probe if not any(match(p, t) for t in templates)]
        if missing:
            warnings.warn(f"the UnrealCV server at {self.endpoint} does not list commands the unrealcv renderer "
                          f"sends: {missing}; an older plugin? see ue_project/README.md", UserWarning, stacklevel=2)

    # ---------------------------------------------------------------------------------- requests
    def _request(self, command: str, timeout: float | None = None):
        return self._batch([command], timeout)[0]

    def _batch(self, commands: Sequence[str], timeout: float | None = None) -> list:
        """Send pipelined, wait for every reply; an `error` reply, a timeout or a lost connection raises
        `_Failure` naming the command."""
        if self._client is None:
            raise _Failure("not connected")
        try:
            with _quiet_client():
                replies = self._client.request_many(commands, timeout or self.request_timeout_s)
        except TimeoutError as exc:
            raise _Failure(f"timeout: {exc} (the game stopped answering)", hung=True) from exc
        except (ConnectionError, OSError) as exc:
            raise _Failure(f"connection lost: {exc}", transient=True) from exc
        for cmd, reply in zip(commands, replies):
            if _is_error(reply):
                raise _Failure(f"'{cmd}' answered '{reply.strip()}'")
        return replies

    def _drop(self, exc: _Failure) -> str:
        """Close the connection after a failure (killing our game if it hung); returns what happened to it."""
        detail = str(exc)
        if self.game is not None:
            if self.game.alive() and exc.hung:
                self.game.stop()
                detail += "; killed the hung game, it is relaunched on the next try"
            elif not self.game.alive():
                detail += f"; the game exited with code {self.game.exit_code()}, log tail:\n{self.game.log_tail()}"
        self._disconnect()
        return detail

    def _fail(self, spec: ClipSpec, where: str, exc: _Failure) -> RenderFailure:
        """Drop the connection and build the error the render job retries (from the clip's first frame)."""
        return RenderFailure(f"unrealcv at {self.endpoint}: clip {spec.clip_id} {where}: {self._drop(exc)}")

    # ------------------------------------------------------------------------------------ render
    def render(self, spec: ClipSpec) -> Iterator[Frame]:
        scene = self.catalog.scenes[spec.scene]
        width, height = spec.video.width, spec.video.height
        hfov = self._hfov(spec)
        subjects = [(t, self.catalog.subjects[t.name]) for t in spec.subjects]
        for t, s in subjects:
            if not s.unreal_asset:
                raise ConfigError(f"subject {t.name!r} has no unreal.asset in render_configs/subject/{t.name}.yaml")
        if not scene.unreal_level:
            raise ConfigError(f"scene {spec.scene!r} has no unreal.level in render_configs/scene/{spec.scene}.yaml")
        # Nothing is yielded before the setup succeeds, so a link that failed here (e.g. a connection the game
        # closed while idle between clips) is retried on a new connection without failing the clip.
        for attempt in range(self.max_reconnects + 1):
            self._connect()
            try:
                names, colors = self._setup_clip(scene.unreal_level, subjects, width, height, hfov)
                break
            except _Failure as exc:
                if not exc.transient or attempt == self.max_reconnects:
                    raise self._fail(spec, "setup", exc) from None
                self._drop(exc)
                time.sleep(min(self.backoff_s * 2 ** attempt, self.backoff_max_s))
        cam = self.camera_id
        loc, pitch, yaw, roll = c2w_to_ue_pose(spec.camera_c2w)
        sub_loc = [world_to_ue_location(t.positions) for t, _ in subjects]
        sub_yaw = [heading_to_ue_yaw(t.headings) for t, _ in subjects]
        captures = [f"vget /camera/{cam}/lit png", f"vget /camera/{cam}/object_mask png"]
        if self.read_depth:
            captures.append(f"vget /camera/{cam}/depth npy")
        for f in range(spec.num_frames):
            sets = [f"vset /camera/{cam}/location {_num(loc[f, 0])} {_num(loc[f, 1])} {_num(loc[f, 2])}",
                    f"vset /camera/{cam}/rotation {_num(pitch[f])} {_num(yaw[f])} {_num(roll[f])}"]
            for k, (name, (t, _)) in enumerate(zip(names, subjects)):
                x, y, z = sub_loc[k][f]
                sets.append(f"vbp {name} HMSetPose {_num(x)} {_num(y)} {_num(z)} {_num(sub_yaw[k][f])}")
                sets.append(f"vbp {name} HMSetAnimationPhase {_num(t.walk_phase[f])}")
            try:
                replies = self._batch([f"vbatch {len(sets)}", *sets, *captures])
                frame = self._decode(replies[-len(captures):], spec, colors, width, height)
            except _Failure as exc:
                raise self._fail(spec, f"frame {f}", exc) from None
            yield frame

    @staticmethod
    def _hfov(spec: ClipSpec) -> float:
        """UE cameras have square pixels and the principal point at the image centre: check, then the fov."""
        k, w, h = spec.intrinsics, spec.video.width, spec.video.height
        centred = all(lo - 1e-6 <= c <= hi + 1e-6 for c, lo, hi in ((k.cx, (w - 1) / 2, w / 2), (k.cy, (h - 1) / 2, h / 2)))
        if abs(k.fx - k.fy) > 1e-9 * k.fx or not centred:
            raise ConfigError(f"clip {spec.clip_id}: UE cameras need fx == fy and a centred principal point, got "
                              f"fx={k.fx} fy={k.fy} cx={k.cx} cy={k.cy} for {w}x{h}")
        return float(ue_hfov_deg(k.fx, w))

    def _setup_clip(self, level: str, subjects, width: int, height: int, hfov: float):
        cam = self.camera_id
        if self._level != level:
            self._request(f"vset /action/game/level {level}", self.level_timeout_s)
            self._wait_for_level(level)
            self._level, self._used_colors = level, None
        cameras = str(self._request("vget /cameras")).split()
        for _ in range(len(cameras), cam + 1):  # the capture camera is placed in the level; spawn it if not
            self._request("vset /cameras/spawn")
        objects = str(self._request("vget /objects")).split()
        leftovers = [o for o in objects if o.startswith(SUBJECT_PREFIX)]
        if leftovers:
            self._batch([f"vset /object/{o}/destroy" for o in leftovers])
        if self._used_colors is None:
            others = [o for o in objects if not o.startswith(SUBJECT_PREFIX)]
            replies = self._batch([f"vget /object/{o}/color" for o in others]) if others else []
            self._used_colors = [c for c in map(_parse_color, replies) if c is not None]
        palette = subject_colors(len(subjects), self._used_colors, self.mask_tolerance)
        names = []
        for k, ((t, s), color) in enumerate(zip(subjects, palette)):
            reply = str(self._request(f"vset /objects/spawn_from_path {_class_path(s.unreal_asset)} "
                                      f"{SUBJECT_PREFIX}{t.instance_id}")).strip()
            name = reply if reply and reply != "ok" else f"{SUBJECT_PREFIX}{t.instance_id}"
            names.append(name)
        self._batch([f"vset /object/{n}/color {c[0]} {c[1]} {c[2]}" for n, c in zip(names, palette)]
                    + [f"vset /camera/{cam}/size {width} {height}", f"vset /camera/{cam}/fov {_num(hfov)}",
                       "vset /action/game/pause"])
        colors = [(t.instance_id, c) for (t, _), c in zip(subjects, palette)]
        return names, colors

    def _wait_for_level(self, level: str) -> None:
        want = level.split(".")[0].rsplit("/", 1)[-1]
        deadline = time.monotonic() + self.level_timeout_s
        while True:
            name = str(self._request("vget /scene/name")).strip()
            if name == want or name.rsplit("/", 1)[-1].split(".")[0] == want:
                return
            if time.monotonic() >= deadline:
                raise _Failure(f"level {level} did not load within {self.level_timeout_s:g} s (scene is {name!r})")
            time.sleep(0.25)

    def _decode(self, replies, spec: ClipSpec, colors, width: int, height: int) -> Frame:
        from PIL import Image

        imgs = []
        for what, data in zip(("lit", "object_mask"), replies[:2]):
            if not isinstance(data, bytes):
                raise _Failure(f"{what} capture: expected png bytes, got {str(data)[:80]!r}")
            try:
                img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            except Exception as exc:  # noqa: BLE001 - PIL raises several types for corrupt data
                raise _Failure(f"{what} capture: not a readable png ({exc})") from exc
            if img.shape[:2] != (height, width):
                raise _Failure(f"{what} capture is {img.shape[1]}x{img.shape[0]}, expected {width}x{height} "
                               "(did `vset /camera/N/size` take effect?)")
            imgs.append(img)
        rgb, mask_rgb = imgs
        instances = colors_to_instances(mask_rgb, colors, self.mask_tolerance)
        depth = None
        if self.read_depth:
            data = replies[2]
            try:
                d = np.load(io.BytesIO(data), allow_pickle=False) if isinstance(data, bytes) else None
            except ValueError as exc:
                raise _Failure(f"depth capture: not a readable npy ({exc})") from exc
            if d is None or d.squeeze().shape != (height, width):
                raise _Failure(f"depth capture: expected a {height}x{width} npy, got "
                               f"{getattr(d, 'shape', str(data)[:80])}")
            d = d.squeeze().astype(np.float32)
            sky = ~np.isfinite(d) | (d >= self.sky_depth_cm) | (d <= 0)
            depth = np.where(sky, 0.0, d / 100.0).astype(np.float32)
        return Frame(np.ascontiguousarray(rgb), instances, depth)


# ----------------------------------------------------------------------------------- helpers
def _class_path(asset: str) -> str:
    """`/Game/X/BP_Y` -> `/Game/X/BP_Y.BP_Y_C`, the Blueprint's generated class that UE spawns."""
    if "." in asset.rsplit("/", 1)[-1]:
        return asset
    base = asset.rsplit("/", 1)[-1]
    return f"{asset}.{base}_C"


def _parse_color(reply) -> tuple[int, int, int] | None:
    """`(R=12,G=34,B=56,A=255)` -> (12, 34, 56)."""
    if not isinstance(reply, str) or _is_error(reply):
        return None
    vals = {}
    for part in reply.strip("() \n").split(","):
        key, _, val = part.partition("=")
        with contextlib.suppress(ValueError):
            vals[key.strip().upper()] = int(float(val))
    if not all(k in vals for k in "RGB"):
        return None
    return vals["R"], vals["G"], vals["B"]


def subject_colors(n: int, used: Sequence[tuple[int, int, int]], tolerance: int) -> list[tuple[int, int, int]]:
    """n annotation colours, deterministic, each more than 2 * tolerance (per channel) from every colour the
    level already uses, from black (sky) and from each other, so a mask pixel matches at most one subject."""
    levels = (255, 0, 128, 64, 192)
    taken = [(0, 0, 0), *map(tuple, used)]
    out: list[tuple[int, int, int]] = []
    for c in itertools.product(levels, repeat=3):
        if len(out) == n:
            break
        if len(set(c)) == 1:  # greys and white look like unlit scenery
            continue
        if all(max(abs(a - b) for a, b in zip(c, t)) > 2 * tolerance for t in taken + out):
            out.append(c)
    if len(out) < n:
        raise HMWorldError(f"could not find {n} annotation colours distinct from the {len(used)} the level uses")
    return out


def colors_to_instances(mask_rgb: np.ndarray, colors, tolerance: int) -> np.ndarray:
    """Object-mask image [H, W, 3] -> instance ids [H, W] (uint8): pixels within `tolerance` (per channel) of a
    subject's colour get its instance id, everything else 0."""
    out = np.zeros(mask_rgb.shape[:2], np.uint8)
    img = mask_rgb.astype(np.int16)
    for instance_id, color in colors:
        hit = np.all(np.abs(img - np.asarray(color, np.int16)) <= tolerance, axis=-1)
        out[hit] = instance_id
    return out

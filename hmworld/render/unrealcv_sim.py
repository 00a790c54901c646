"""A TCP server that speaks UnrealCV's wire protocol and draws with the embedded renderer.

It stands in for a UE5 game with the UnrealCV plugin, for users without Unreal and for the tests of the
`unrealcv` renderer (which talks to it through the real `unrealcv` client package over real TCP).

Wire protocol (as the UnrealCV plugin and its Python client implement it):
  * every message, both ways, is framed as uint32 magic 0x9E2B83C1, uint32 payload length, payload
    (native little-endian);
  * on connect the server sends `connected to <project>`; only one client is served at a time, later
    ones are closed without a greeting until the first leaves;
  * a request is `<id>:<command>`, its reply `<id>:<body>`, where body is text (`ok`, a value, or
    `error <message>`) or binary (png / npy);
  * `vbatch N` is answered `ok` at once, and the next N requests run together (one game tick) before any
    of them is answered;
  * `vget /unrealcv/commands` lists the supported command templates, one per line (the client checks
    requests against it).

State kept, as the game would: the loaded level (one of the catalog's scenes, by its `unreal.level`),
the cameras (location cm, rotation pitch/yaw/roll, horizontal fov, capture size), the actors spawned from
catalog asset paths (`unreal.asset`) with their pose, walk phase, annotation colour and visibility, and
pause. Subject actors implement the HMWorld subject Blueprint interface that `ue_project/` defines:
`vbp <actor> HMSetPose <x> <y> <z> <yaw>` (feet on the ground point, UE cm/degrees) and
`vbp <actor> HMSetAnimationPhase <cycles>` (walk cycles completed).

Captures (`lit`, `object_mask` as RGBA PNG; `depth` as float32 npy in centimetres, planar, with UE's
float16 scene-depth precision and sky at 65504) are drawn by the embedded renderer from a one-frame
ClipSpec built from that state, converted back from UE axes through `hmworld.ue_axes`. The scene's static
geometry is one annotated actor (`<Scene>_Static`); sky pixels are black in the object mask.

Fault injection (`Faults`) makes the server drop the connection, answer `error ...`, stall, or exit the
whole process on a chosen request, for the reliability tests.
"""
from __future__ import annotations

import io
import os
import re
import select
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hmworld.catalog import Catalog
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.errors import ConfigError
from hmworld.geometry import Intrinsics
from hmworld.ue_axes import ue_location_to_world, ue_pose_to_c2w, ue_yaw_to_heading

MAGIC = 0x9E2B83C1
HEADER = struct.Struct("<II")
SKY_DEPTH_CM = 65504.0  # float16 max: what UE's scene depth saturates to where only sky shows
VERSION = "1.1.0-hmworld-sim"

# Every command template the simulator serves, as `vget /unrealcv/commands` lists them. The client warns on
# requests that match none, so this is also the list of what the `unrealcv` renderer may send.
COMMAND_TEMPLATES = (
    "vget /unrealcv/commands",
    "vget /unrealcv/status",
    "vget /unrealcv/version",
    "vget /scene/name",
    "vset /action/game/level [str]",
    "vset /action/game/pause",
    "vset /action/game/resume",
    "vget /action/game/is_paused",
    "vget /cameras",
    "vset /cameras/spawn",
    "vget /camera/[uint]/location",
    "vset /camera/[uint]/location [float] [float] [float]",
    "vget /camera/[uint]/rotation",
    "vset /camera/[uint]/rotation [float] [float] [float]",
    "vget /camera/[uint]/fov",
    "vset /camera/[uint]/fov [float]",
    "vget /camera/[uint]/size",
    "vset /camera/[uint]/size [uint] [uint]",
    "vget /camera/[uint]/lit [str]",
    "vget /camera/[uint]/object_mask [str]",
    "vget /camera/[uint]/depth [str]",
    "vget /objects",
    "vset /objects/spawn_from_path [str] [str]",
    "vget /object/[str]/location",
    "vset /object/[str]/location [float] [float] [float]",
    "vget /object/[str]/rotation",
    "vset /object/[str]/rotation [float] [float] [float]",
    "vget /object/[str]/color",
    "vset /object/[str]/color [uint] [uint] [uint]",
    "vset /object/[str]/hide",
    "vset /object/[str]/show",
    "vset /object/[str]/destroy",
    "vbp [str] HMSetPose [float] [float] [float] [float]",
    "vbp [str] HMSetAnimationPhase [float]",
    "vrun [str]",
    "vrun [str] [str]",
    "vbatch [uint]",
)


class CommandError(Exception):
    """A command the game rejects: answered `error <message>`."""


@dataclass
class Faults:
    """Which request misbehaves. Requests are counted from 1 over the server's life (every connection),
    counting only those whose text contains `match` (all when empty). Each `*_after=N` fires on the N-th
    counted request, once, or on every N-th with `repeat`; 0 disables it.

    drop: close the connection without answering (a dropped link); error: answer `error <message>` instead
    of running the command; stall: answer only after `stall_s` seconds (or never, if the client leaves
    first); crash: exit the whole process at once (a crashed game). `delay_s` slows every request."""

    drop_after: int = 0
    error_after: int = 0
    stall_after: int = 0
    crash_after: int = 0
    match: str = ""
    repeat: bool = False
    stall_s: float = 30.0
    delay_s: float = 0.0
    error_message: str = "simulated failure (fault injection)"

    def fires(self, every: int, count: int) -> bool:
        if every <= 0:
            return False
        return count % every == 0 if self.repeat else count == every


@dataclass
class Camera:
    location: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))  # pitch, yaw, roll (degrees)
    fov: float = 90.0
    width: int = 640
    height: int = 480


@dataclass
class Actor:
    name: str
    subject: str | None  # catalog subject name; None for scenery
    color: tuple[int, int, int]
    location: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    phase: float = 0.0
    hidden: bool = False


def _fmt(x: float) -> str:
    return f"{float(x):.3f}"


def annotation_color(name: str) -> tuple[int, int, int]:
    """A stable colour per actor name (UnrealCV assigns annotation colours itself; any distinct ones do)."""
    h = zlib.crc32(name.encode())
    return (64 + (h & 0x7F), 64 + ((h >> 7) & 0x7F), 64 + ((h >> 14) & 0x7F))


def encode_png(rgb: np.ndarray) -> bytes:
    """RGBA PNG with opaque alpha, as UnrealCV sends captures."""
    from PIL import Image

    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


class Peer:
    """A client connection with a read-ahead buffer: while stalling, the server keeps reading what the client
    pipelines (to notice when it leaves: the end of stream comes only after the data sent before it)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()

    def fill(self) -> bool:
        """Read what has arrived into the buffer; False at end of stream."""
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            return False
        self.buf += chunk
        return bool(chunk)

    def read_exact(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self.fill():
                return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def read_message(peer: Peer) -> bytes | None:
    """One framed payload, or None when the peer closed the connection."""
    header = peer.read_exact(HEADER.size)
    if header is None:
        return None
    magic, size = HEADER.unpack(header)
    if magic != MAGIC:
        raise ConnectionError(f"bad magic 0x{magic:08X} in a message from the client (expected 0x{MAGIC:08X})")
    return peer.read_exact(size)


def write_message(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(HEADER.pack(MAGIC, len(payload)) + payload)


class GameState:
    """What the commands set, and the rendering of captures from it."""

    def __init__(self, catalog: Catalog, renderer_factory: Callable | None = None):
        self.catalog = catalog
        self.levels = {s.unreal_level: name for name, s in catalog.scenes.items() if s.unreal_level}
        self.assets = {s.unreal_asset: name for name, s in catalog.subjects.items() if s.unreal_asset}
        self._renderer_factory = renderer_factory
        self._renderer = None
        self.level: str | None = None
        self.paused = False
        self.cameras: list[Camera] = [Camera(), Camera()]  # 0: the player's view; 1: a placed capture camera
        self.actors: dict[str, Actor] = {}
        self._version = 0
        self._cache: tuple[int, int, dict] | None = None

    # ------------------------------------------------------------------------------------- helpers
    def touch(self) -> None:
        self._version += 1

    @property
    def scene(self) -> str | None:
        return self.levels.get(self.level) if self.level else None

    def camera(self, cam_id: str) -> Camera:
        i = int(cam_id)
        if not 0 <= i < len(self.cameras):
            raise CommandError(f"Invalid sensor id {i} ({len(self.cameras)} cameras in the level)")
        return self.cameras[i]

    def actor(self, name: str) -> Actor:
        if name not in self.actors:
            raise CommandError(f"Can not find object {name}")
        return self.actors[name]

    def load_level(self, level: str) -> None:
        # accept `/Game/Maps/X`, `/Game/Maps/X.X` and a bare map name, as UE's `open` does
        path = level.split(".")[0]
        match = [lv for lv in self.levels if lv == path or lv.rsplit("/", 1)[-1] == path]
        if not match:
            raise CommandError(f"Level {level} not found (known: {sorted(self.levels)})")
        self.level = match[0]
        scene = self.levels[self.level]
        static = f"{_pascal(scene)}_Static"
        # a level load resets the world: spawned actors are gone, one placed capture camera remains
        self.actors = {static: Actor(static, None, annotation_color(static))}
        self.cameras = [Camera(), Camera()]
        self.paused = False
        self.touch()

    def spawn(self, class_path: str, name: str) -> str:
        if self.level is None:
            raise CommandError("No level is loaded")
        asset = class_path.split(".")[0]  # `/Game/.../BP_X.BP_X_C` -> the asset path
        if asset not in self.assets:
            raise CommandError(f"Can not load class {class_path}")
        if name in self.actors:
            raise CommandError(f"Object {name} already exists")
        self.actors[name] = Actor(name, self.assets[asset], annotation_color(name))
        self.touch()
        return name

    # ----------------------------------------------------------------------------------- rendering
    def renderer(self):
        if self._renderer is None:
            if self._renderer_factory is not None:
                self._renderer = self._renderer_factory(self.catalog)
            else:
                from hmworld.render.embedded import EmbeddedRenderer

                self._renderer = EmbeddedRenderer(self.catalog, read_depth=True)
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def capture(self, cam_id: str) -> dict:
        """lit RGB, object mask and depth of one camera, rendered once per state change."""
        i = int(cam_id)
        self.camera(cam_id)
        if self._cache is not None and self._cache[:2] == (self._version, i):
            return self._cache[2]
        if self.scene is None:
            raise CommandError("No level is loaded")
        cam = self.cameras[i]
        subjects = [a for a in self.actors.values() if a.subject is not None and not a.hidden]
        if len(subjects) > 255:
            raise CommandError("more than 255 visible subjects")
        tracks = []
        for k, a in enumerate(subjects, start=1):
            tracks.append(SubjectTrack(
                k, a.subject, "ue", 0.0, ue_location_to_world(a.location)[None],
                np.atleast_1d(ue_yaw_to_heading(a.rotation[1])), np.array([a.phase])))
        c2w = ue_pose_to_c2w(cam.location, *cam.rotation)
        # focal length and principal point exactly as the project builds them from a field of view
        intr = Intrinsics.from_hfov(cam.width, cam.height, cam.fov)
        spec = ClipSpec(f"ucv-sim-{self._version}", 0, 0, 0, "sim", self.scene,
                        VideoSpec(cam.width, cam.height, 15.0, 1, 0), intr, "static", "left", c2w[None], tracks)
        frame = next(iter(self.renderer().render(spec)))
        mask = np.zeros((cam.height, cam.width, 3), np.uint8)
        static = [a for a in self.actors.values() if a.subject is None]
        if frame.depth is not None and static:
            mask[frame.depth > 0] = static[0].color
        for k, a in enumerate(subjects, start=1):
            mask[frame.instances == k] = a.color
        depth_cm = np.full((cam.height, cam.width), SKY_DEPTH_CM, np.float32)
        if frame.depth is not None:
            hit = frame.depth > 0
            depth_cm[hit] = (frame.depth[hit] * 100.0).astype(np.float16).astype(np.float32)
        out = {"lit": frame.rgb, "object_mask": mask, "depth": depth_cm}
        self._cache = (self._version, i, out)
        return out


def _pascal(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


_FLOAT = r"([-+0-9.eE]+|[-+]?(?:inf|nan))"


class CommandSet:
    """Parses one command and runs it against the state. Returns text or bytes; raises CommandError."""

    def __init__(self, state: GameState, project: str):
        self.s, self.project = state, project
        f = _FLOAT
        self.routes: list[tuple[re.Pattern, Callable]] = [(re.compile(p + r"\Z", re.S), h) for p, h in [
            (r"vget /unrealcv/commands", lambda: "\n".join(COMMAND_TEMPLATES)),
            (r"vget /unrealcv/status", lambda: f"UnrealCV server (simulator) for {self.project}, serving"),
            (r"vget /unrealcv/version", lambda: VERSION),
            (r"vget /scene/name", lambda: (self.s.level or "").rsplit("/", 1)[-1]),
            (r"vset /action/game/level (\S+)", self.level),
            (r"vset /action/game/pause", lambda: self._pause(True)),
            (r"vset /action/game/resume", lambda: self._pause(False)),
            (r"vget /action/game/is_paused", lambda: "true" if self.s.paused else "false"),
            (r"vget /cameras", lambda: " ".join(["PawnSensor"] + [f"FusionCameraActor_{i}"
                                                                for i in range(1, len(self.s.cameras))])),
            (r"vset /cameras/spawn", self.spawn_camera),
            (r"vget /camera/(\d+)/location", lambda c: " ".join(map(_fmt, self.s.camera(c).location))),
            (rf"vset /camera/(\d+)/location {f} {f} {f}", self._setter(self.s.camera, "location")),
            (r"vget /camera/(\d+)/rotation", lambda c: " ".join(map(_fmt, self.s.camera(c).rotation))),
            (rf"vset /camera/(\d+)/rotation {f} {f} {f}", self._setter(self.s.camera, "rotation")),
            (r"vget /camera/(\d+)/fov", lambda c: _fmt(self.s.camera(c).fov)),
            (rf"vset /camera/(\d+)/fov {f}", self.set_fov),
            (r"vget /camera/(\d+)/size", lambda c: f"{self.s.camera(c).width} {self.s.camera(c).height}"),
            (r"vset /camera/(\d+)/size (\d+) (\d+)", self.set_size),
            (r"vget /camera/(\d+)/(lit|object_mask|depth) (\S+)", self.capture),
            (r"vget /objects", lambda: " ".join(self.s.actors)),
            (r"vset /objects/spawn_from_path (\S+) (\S+)", self.s.spawn),
            (r"vget /object/(\S+)/location", lambda o: " ".join(map(_fmt, self.s.actor(o).location))),
            (rf"vset /object/(\S+)/location {f} {f} {f}", self._setter(self.s.actor, "location")),
            (r"vget /object/(\S+)/rotation", lambda o: " ".join(map(_fmt, self.s.actor(o).rotation))),
            (rf"vset /object/(\S+)/rotation {f} {f} {f}", self._setter(self.s.actor, "rotation")),
            (r"vget /object/(\S+)/color", self.get_color),
            (r"vset /object/(\S+)/color (\d+) (\d+) (\d+)", self.set_color),
            (r"vset /object/(\S+)/(hide|show)", self.hide_show),
            (r"vset /object/(\S+)/destroy", self.destroy),
            (rf"vbp (\S+) HMSetPose {f} {f} {f} {f}", self.bp_set_pose),
            (rf"vbp (\S+) HMSetAnimationPhase {f}", self.bp_set_phase),
            (r"vbp (\S+) (\S+)(?: .*)?", self.bp_unknown),
            (r"vrun (.+)", lambda cmd: "ok"),  # console commands (cvars) change nothing the simulator draws
        ]]

    def run(self, command: str) -> str | bytes:
        for pattern, handler in self.routes:
            m = pattern.match(command)
            if m:
                try:
                    out = handler(*m.groups())
                except CommandError:
                    raise
                except (ValueError, OverflowError) as exc:
                    raise CommandError(f"Invalid argument in '{command}': {exc}") from exc
                return "ok" if out is None else out
        raise CommandError(f"Can not find a handler for command '{command}'")

    # ------------------------------------------------------------------------------------ handlers
    def level(self, name):
        self.s.load_level(name)

    def _pause(self, value: bool):
        self.s.paused = value

    def spawn_camera(self):
        self.s.cameras.append(Camera())
        return f"FusionCameraActor_{len(self.s.cameras) - 1}"

    def _setter(self, find: Callable, attr: str) -> Callable:
        """The handler that sets a camera's or object's location (x, y, z) or rotation (pitch, yaw, roll). The
        numbers are parsed before the lookup: a bad number is reported as such even when the id is unknown too."""
        def handler(key, *values):
            vector = np.array([float(v) for v in values])
            setattr(find(key), attr, vector)
            self.s.touch()
        return handler

    def set_fov(self, c, fov):
        v = float(fov)
        if not 0.0 < v < 180.0:
            raise CommandError(f"FOV {v} out of range (0, 180)")
        self.s.camera(c).fov = v
        self.s.touch()

    def set_size(self, c, w, h):
        w, h = int(w), int(h)
        if not (1 <= w <= 8192 and 1 <= h <= 8192):
            raise CommandError(f"Invalid film size {w}x{h}")
        cam = self.s.camera(c)
        cam.width, cam.height = w, h
        self.s.touch()

    def capture(self, c, mode, fmt):
        data = self.s.capture(c)[mode]
        if mode == "depth":
            if fmt != "npy":
                raise CommandError(f"Invalid filename type, filename {fmt}")
            return encode_npy(data)
        if fmt != "png":
            raise CommandError(f"Invalid filename type, filename {fmt} (the simulator sends png)")
        return encode_png(data)

    def get_color(self, o):
        r, g, b = self.s.actor(o).color
        return f"(R={r},G={g},B={b},A=255)"

    def set_color(self, o, r, g, b):
        rgb = tuple(int(v) for v in (r, g, b))
        if max(rgb) > 255:
            raise CommandError(f"Invalid color {rgb}")
        self.s.actor(o).color = rgb  # type: ignore[assignment]
        self.s.touch()

    def hide_show(self, o, what):
        self.s.actor(o).hidden = what == "hide"
        self.s.touch()

    def destroy(self, o):
        self.s.actor(o)
        del self.s.actors[o]
        self.s.touch()

    def _subject(self, o) -> Actor:
        a = self.s.actor(o)
        if a.subject is None:
            raise CommandError(f"Object {o} does not implement the HMWorld subject interface")
        return a

    def bp_set_pose(self, o, x, y, z, yaw):
        a = self._subject(o)
        a.location = np.array([float(x), float(y), float(z)])
        a.rotation = np.array([0.0, float(yaw), 0.0])
        self.s.touch()
        return "{}"

    def bp_set_phase(self, o, cycles):
        self._subject(o).phase = float(cycles)
        self.s.touch()
        return "{}"

    def bp_unknown(self, o, func):
        self.s.actor(o)
        raise CommandError(f"Function {func} not found in object {o}")


class UnrealCVSimulator:
    """The server. `start()` binds (port 0 picks a free one, see `.port`) and serves from background threads;
    `stop()` closes everything. One client at a time, as the plugin does."""

    def __init__(self, catalog: Catalog, host: str = "127.0.0.1", port: int = 0, project: str = "HMWorld",
                 faults: Faults | None = None, renderer_factory: Callable | None = None, log: Callable | None = None):
        self.catalog, self.host, self.port, self.project = catalog, host, int(port), project
        self.faults = faults or Faults()
        self.state = GameState(catalog, renderer_factory)
        self.commands = CommandSet(self.state, project)
        self.log = log or (lambda msg: None)
        self.requests = 0  # every request received
        self.counted = 0  # requests that matched `faults.match`
        self.connections = 0
        self.rejected = 0
        self.fault_log: list[str] = []
        self._listener: socket.socket | None = None
        self._active: socket.socket | None = None
        self._pending: list[socket.socket] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --------------------------------------------------------------------------------- lifecycle
    def start(self) -> "UnrealCVSimulator":
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            lst.bind((self.host, self.port))
        except OSError as exc:
            lst.close()
            raise ConfigError(f"ucv-sim: cannot listen on {self.host}:{self.port}: {exc}") from exc
        lst.listen(4)
        lst.settimeout(0.2)  # the accept loop polls `_stop`
        self._listener = lst
        self.port = lst.getsockname()[1]
        # the game thread owns the GL context (EGL contexts are current per thread) and serves the client
        for target, name in ((self._accept_loop, "ucv-sim-accept"), (self._game_loop, "ucv-sim-game")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            for s in [self._active, *self._pending]:
                if s is not None:
                    _close(s)
        for t in self._threads:
            t.join(timeout=10)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> "UnrealCVSimulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.stop()

    # ------------------------------------------------------------------------------------ threads
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cond:
                if self._active is not None or self._pending:
                    # the plugin serves one client; others are closed without a greeting
                    self.rejected += 1
                    self.log(f"rejected a second client from {addr[0]}:{addr[1]}")
                    _close(conn)
                    continue
                self._pending.append(conn)
                self._cond.notify_all()

    def _game_loop(self) -> None:
        try:
            while not self._stop.is_set():
                with self._cond:
                    while not self._pending and not self._stop.is_set():
                        self._cond.wait(0.5)
                    if self._stop.is_set():
                        return
                    conn = self._active = self._pending.pop(0)
                self.connections += 1
                try:
                    self._serve(conn)
                except (OSError, ConnectionError) as exc:
                    self.log(f"connection ended: {exc}")
                finally:
                    _close(conn)
                    with self._cond:
                        self._active = None
        finally:
            self.state.close()

    def _serve(self, conn: socket.socket) -> None:
        peer = Peer(conn)
        write_message(conn, f"connected to {self.project}".encode())
        self.log("client connected")
        while not self._stop.is_set():
            raw = read_message(peer)
            if raw is None:
                self.log("client closed the connection")
                return
            request = self._parse(raw)
            if request is None:
                continue
            rid, command = request
            batch = [(rid, command)]
            if command.startswith("vbatch"):
                try:
                    n = int(command[len("vbatch"):].strip())
                except ValueError:
                    n = 0
                if not self._reply(peer, rid, command, lambda: "ok" if n >= 1 else "error vbatch needs N >= 1"):
                    return
                batch = []
                # collect the N requests, then run them together (one tick) before answering any
                while len(batch) < n:
                    raw = read_message(peer)
                    if raw is None:
                        return
                    req = self._parse(raw)
                    if req is not None:
                        batch.append(req)
            for rid, command in batch:
                if not self._reply(peer, rid, command, lambda c=command: self.commands.run(c)):
                    return

    def _parse(self, raw: bytes) -> tuple[int, str] | None:
        m = re.match(rb"(\d+):(.*)\Z", raw, re.S)
        if not m:
            self.log(f"malformed request {raw[:60]!r} (expected '<id>:<command>')")
            return None
        return int(m.group(1)), m.group(2).decode("utf-8", "replace").strip()

    def _reply(self, peer: Peer, rid: int, command: str, run: Callable) -> bool:
        """Runs one request (applying faults) and answers it; False when the connection is to be dropped."""
        f, conn = self.faults, peer.sock
        self.requests += 1
        if f.delay_s > 0:
            time.sleep(f.delay_s)
        if not f.match or f.match in command:
            self.counted += 1
            n = self.counted
            if f.fires(f.crash_after, n):
                self.fault_log.append(f"crash at request {n}: {command}")
                self.log(f"fault: crashing the process at request {n} ({command})")
                os._exit(3)
            if f.fires(f.drop_after, n):
                self.fault_log.append(f"drop at request {n}: {command}")
                self.log(f"fault: dropping the connection at request {n} ({command})")
                return False
            if f.fires(f.stall_after, n):
                self.fault_log.append(f"stall at request {n}: {command}")
                self.log(f"fault: stalling {f.stall_s} s at request {n} ({command})")
                if _wait_for_close(peer, f.stall_s, self._stop):
                    return False
            if f.fires(f.error_after, n):
                self.fault_log.append(f"error at request {n}: {command}")
                write_message(conn, f"{rid}:error {f.error_message}".encode())
                return True
        try:
            body = run()
        except CommandError as exc:
            body = f"error {exc}"
        payload = body if isinstance(body, bytes) else str(body).encode()
        write_message(conn, f"{rid}:".encode() + payload)
        return True


def _wait_for_close(peer: Peer, seconds: float, stop: threading.Event) -> bool:
    """Sleep up to `seconds`, returning True early if the peer closed the connection (or the server stops).
    Requests that arrive meanwhile are buffered for later."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable, _, _ = select.select([peer.sock], [], [], min(left, 0.2))
        if readable and not peer.fill():
            return True
    return True


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()

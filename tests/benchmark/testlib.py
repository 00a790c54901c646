"""Helpers for the benchmark tests: tiny metric models, submissions built from a split, result rows."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from hmworld.benchmark import SubmissionInfo, write_submission_info
from hmworld.split import Split
from hmworld.video import write_video


def tiny_models_factory(weights_dir=None, device=None, yolo_weights="yolo11n.pt"):
    """MetricModels whose models are the tiny random ones, loaded through the production loaders (the CLI's
    models_factory= hook; spawned score workers import it by name)."""
    from hmworld.metrics import MetricModels, load_clip, load_dino, load_lpips
    from tests.metrics.testlib import TINY_CLIP, TINY_DINO

    return MetricModels(weights_dir=str(weights_dir), device="cpu", yolo_weights="yolo11n.pt",
                        allow_download=False, lpips=load_lpips(weights_dir, "cpu"),
                        dino=load_dino(weights_dir, "cpu", arch=TINY_DINO),
                        clip=load_clip(weights_dir, "cpu", arch=TINY_CLIP))


def make_submission(split_dir: Path, out: Path, frames: Callable, model: str, includes_context: bool = False,
                    fps: float | None = None, clips: list[str] | None = None) -> Path:
    """A submission folder: frames(clip) -> uint8 [T, H, W, 3] per clip (every clip unless `clips`)."""
    split = Split(split_dir)
    out.mkdir(parents=True, exist_ok=True)
    rate = float(split.manifest["fps"].iloc[0])
    for clip in split:
        if clips is not None and clip.clip_id not in clips:
            continue
        write_video(out / f"{clip.clip_id}.mp4", frames(clip), fps or rate)
    write_submission_info(out, SubmissionInfo(model=model, split_fingerprint=split.fingerprint, fps=int(rate),
                                              includes_context=includes_context, params=1000))
    return out


def gt_copy(clip) -> np.ndarray:
    return clip.target()


def gt_with_context(clip) -> np.ndarray:
    return clip.frames()


def noisy(sigma: float, seed: int = 0) -> Callable:
    def fn(clip):
        rng = np.random.default_rng([seed, clip.row["slot"]])
        t = clip.target().astype(np.float32)
        return np.clip(t + rng.normal(0, sigma, t.shape), 0, 255).astype(np.uint8)
    return fn


def score_rows(results: Path) -> list[tuple]:
    """Every result row that must be identical between equivalent runs (no timings)."""
    with sqlite3.connect(results) as db:
        return [*db.execute("SELECT * FROM scores ORDER BY 1,2,3,4,5"),
                *db.execute("SELECT * FROM clips ORDER BY 1,2,3,4"),
                *db.execute("SELECT * FROM submissions ORDER BY 1,2,3")]


# ------------------------------------------------------------------------------------- headless Chromium (CDP)

def chromium_binary() -> str | None:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Chromium:
    """A real headless Chromium driven over the DevTools protocol (websocket-client); events are kept."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900):
        import json
        import time
        import urllib.request

        import websocket

        self.port = _free_port()
        # Chromium's own temporary folders (org.chromium.Chromium.*) go in a folder of their own that close() removes
        # (a closed browser leaves them behind). Short, in the session's TMPDIR: the singleton's unix socket lives
        # there, and a path over 107 bytes aborts Chromium (tmp_path folders are deeper than that).
        self.tmp = Path(tempfile.mkdtemp(prefix="cr"))
        self.proc = subprocess.Popen(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--remote-allow-origins=*", f"--window-size={width},{height}",
             f"--user-data-dir={profile}", f"--remote-debugging-port={self.port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(self.tmp)})
        deadline = time.monotonic() + 60
        targets = []
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.2)
        if not targets:
            self.close()
            raise RuntimeError("chromium: no page target within 60 s")
        self.ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params):
        import json

        self._id += 1
        my = self._id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def eval(self, expression: str):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JS error in {expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if v := self.eval(expression):
                return v
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")

    def click(self, selector: str) -> None:
        """A real mouse click (press + release) at the element's centre, as a user would."""
        import json

        box = self.eval(f"(function(){{var e=document.querySelector({json.dumps(selector)});"
                        f"e.scrollIntoView({{block:'center'}});var r=e.getBoundingClientRect();"
                        f"return [r.x + r.width / 2, r.y + r.height / 2];}})()")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

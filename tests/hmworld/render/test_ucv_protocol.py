"""The simulator speaks UnrealCV's wire protocol: checked with the real `unrealcv` client package over real
TCP on 127.0.0.1 (and raw sockets where the client hides the framing)."""
import socket
import struct
import time
import warnings

import numpy as np
import pytest

from hmworld.render.unrealcv_sim import COMMAND_TEMPLATES, MAGIC, Faults, UnrealCVSimulator

unrealcv = pytest.importorskip("unrealcv")

LEVEL = "/Game/HMWorld/Maps/CityPark"
ASSET = "/Game/HMWorld/Animals/DogDalmatian/BP_DogDalmatian"


@pytest.fixture
def sim(catalog):
    with UnrealCVSimulator(catalog) as s:
        yield s


def connect(port, within=5.0):
    """A connected client. The server takes a new client only once it has seen the previous one leave, so poll
    (as the renderer does) rather than expect the first try to succeed."""
    deadline = time.monotonic() + within
    while True:
        client = unrealcv.Client(("127.0.0.1", port))
        if client.connect():
            return client
        assert time.monotonic() < deadline, f"no greeting from 127.0.0.1:{port} within {within} s"
        time.sleep(0.05)


def raw_send(sock, payload: bytes):
    sock.sendall(struct.pack("<II", MAGIC, len(payload)) + payload)


def raw_recv(sock, timeout=5.0) -> bytes:
    sock.settimeout(timeout)
    head = b""
    while len(head) < 8:
        chunk = sock.recv(8 - len(head))
        assert chunk, "connection closed"
        head += chunk
    magic, size = struct.unpack("<II", head)
    assert magic == MAGIC
    body = b""
    while len(body) < size:
        body += sock.recv(size - len(body))
    return body


def test_greeting_framing_ids_and_capability_listing(sim):
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        assert raw_recv(s) == b"connected to HMWorld"
        raw_send(s, b"7:vget /unrealcv/version")
        assert raw_recv(s).startswith(b"7:")
        raw_send(s, b"8:vget /no/such/thing")
        assert raw_recv(s).startswith(b"8:error ")
    client = connect(sim.port)
    try:
        # the client asked for the listing on connect (request id 0) and found every template it sends
        assert client._command_capabilities_available
        listing = client.request("vget /unrealcv/commands").splitlines()
        assert listing == list(COMMAND_TEMPLATES) and "vget /unrealcv/commands" in listing
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a command missing from the listing would warn
            assert client.request(f"vset /action/game/level {LEVEL}") == "ok"
            assert client.request("vget /scene/name") == "CityPark"
            assert client.request(f"vset /objects/spawn_from_path {ASSET}.BP_DogDalmatian_C HMW_1") == "HMW_1"
            assert client.request("vset /object/HMW_1/color 255 0 128") == "ok"
            assert client.request("vget /object/HMW_1/color") == "(R=255,G=0,B=128,A=255)"
            assert client.request("vbp HMW_1 HMSetPose 120.5 -30 0 45") == "{}"
            assert client.request("vget /object/HMW_1/location") == "120.500 -30.000 0.000"
        assert client.request("vset /object/Nope/location 1 2 3").startswith("error ")
        assert client.request("vset /objects/spawn_from_path /Game/Unknown.Unknown_C X").startswith("error ")
    finally:
        client.disconnect()


def test_captures_decode_with_the_client_package_decoders(sim):
    client = connect(sim.port)
    try:
        for cmd in (f"vset /action/game/level {LEVEL}", "vset /camera/1/size 64 48", "vset /camera/1/fov 70",
                    "vset /camera/1/location -250 0 60", "vset /camera/1/rotation -5 0 0",
                    f"vset /objects/spawn_from_path {ASSET} HMW_1", "vbp HMW_1 HMSetPose 0 0 0 90",
                    "vset /object/HMW_1/color 255 0 0"):
            assert client.request(cmd) in ("ok", "{}", "HMW_1"), cmd
        decoder = unrealcv.MsgDecoder()
        lit = client.request("vget /camera/1/lit png")
        mask = client.request("vget /camera/1/object_mask png")
        depth = client.request("vget /camera/1/depth npy")
        assert isinstance(lit, bytes) and lit[:8] == b"\x89PNG\r\n\x1a\n"
        bgr = decoder.decode_png(lit)  # the package's decoder: RGBA png -> BGR
        assert bgr.shape == (48, 64, 3) and bgr.std() > 5
        mask_bgr = decoder.decode_png(mask)
        dog = np.all(mask_bgr == [0, 0, 255], axis=-1)  # BGR of (255, 0, 0)
        assert 20 < dog.sum() < 48 * 64 // 2
        d = decoder.decode_depth(depth)[..., 0]
        assert d.shape == (48, 64) and d.dtype == np.float32
        assert 150 < d[dog].mean() < 300  # the dog stands 2.5 m ahead: centimetres
        assert (d[0] == 65504.0).mean() > 0.5  # mostly sky along the top row: float16 max, as UE's scene depth
        client.request("vset /object/HMW_1/hide")
        assert not np.all(decoder.decode_png(client.request("vget /camera/1/object_mask png")) == [0, 0, 255],
                          axis=-1).any()
    finally:
        client.disconnect()


def test_vbatch_holds_replies_until_all_n_arrived(sim):
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        raw_recv(s)
        raw_send(s, f"1:vset /action/game/level {LEVEL}".encode())
        assert raw_recv(s) == b"1:ok"
        raw_send(s, b"2:vbatch 2")
        assert raw_recv(s) == b"2:ok"  # answered at once
        raw_send(s, b"3:vset /camera/1/location 1 2 3")
        s.settimeout(0.4)
        with pytest.raises(socket.timeout):  # nothing until the second batched request is in
            s.recv(1)
        raw_send(s, b"4:vset /camera/1/rotation 4 5 6")
        assert raw_recv(s) == b"3:ok" and raw_recv(s) == b"4:ok"
        raw_send(s, b"5:vget /camera/1/rotation")
        assert raw_recv(s) == b"5:4.000 5.000 6.000"


def test_one_client_at_a_time(sim):
    first = connect(sim.port)
    try:
        second = unrealcv.Client(("127.0.0.1", sim.port))
        assert not second.connect()  # closed without a greeting while the first is served
        assert sim.rejected == 1
        assert first.request("vget /unrealcv/status").startswith("UnrealCV server")
    finally:
        first.disconnect()
    connect(sim.port).disconnect()  # the slot frees once the server sees the first client leave


def test_fault_injection_drop_error_stall(catalog):
    faults = Faults(error_after=2, drop_after=4, stall_after=6, stall_s=30.0, match="vget /unrealcv/status")
    status = b"vget /unrealcv/status"
    with UnrealCVSimulator(catalog, faults=faults) as sim:
        s = open_raw(sim.port)
        for i, expect in ((1, b"1:UnrealCV"), (2, b"2:error simulated failure (fault injection)")):
            raw_send(s, b"%d:%s" % (i, status))
            assert raw_recv(s).startswith(expect)
        raw_send(s, b"3:vget /scene/name")  # not matched by `match`: not counted, no fault
        assert raw_recv(s) == b"3:"
        raw_send(s, b"4:" + status)
        assert raw_recv(s).startswith(b"4:UnrealCV")
        raw_send(s, b"5:" + status)  # the 4th counted request: dropped without an answer
        s.settimeout(5)
        assert s.recv(1) == b""
        s.close()
        s = open_raw(sim.port)
        raw_send(s, b"0:" + status)
        assert raw_recv(s).startswith(b"0:UnrealCV")
        raw_send(s, b"1:" + status)  # the 6th: stalls (30 s) ...
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(1)
        start = time.monotonic()
        s.close()  # ... until the client gives up and leaves: the server takes the next one at once
        connect(sim.port).disconnect()
        assert time.monotonic() - start < 2
        assert [e.split(":")[0] for e in sim.fault_log] == ["error at request 2", "drop at request 4",
                                                             "stall at request 6"]


def open_raw(port, within=5.0):
    deadline = time.monotonic() + within
    while True:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            assert raw_recv(s) == b"connected to HMWorld"
            return s
        except (AssertionError, OSError):
            s.close()
            assert time.monotonic() < deadline, "no greeting"
            time.sleep(0.05)


def test_malformed_and_bad_magic(sim):
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        raw_recv(s)
        raw_send(s, b"no id here")  # ignored, as the plugin does
        raw_send(s, b"9:vget /unrealcv/version")
        assert raw_recv(s).startswith(b"9:")
        s.sendall(struct.pack("<II", 0x12345678, 3) + b"abc")  # not our framing: the server hangs up
        s.settimeout(5)
        assert s.recv(1) == b""

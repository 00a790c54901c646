"""The UnrealCV client of the `renderer=unrealcv` backend (hmworld/render/unreal.py).

A module of its own because the `unrealcv` package (the `unreal` extra) imports cv2 and docker: the renderer
imports it when it first connects, after checking the package is installed.
"""
from __future__ import annotations

import time
from queue import Empty
from typing import Sequence

import unrealcv


class Client(unrealcv.Client):
    """A thin subclass of the package's `Client`.

    Two things differ from the stock client, both about failing fast and quietly: on end-of-stream the stock
    `receive` prints and re-reads the closed socket for ~55 s before giving up (EOF on TCP is final), and an
    exception in its receive thread kills the thread without telling the waiting request. `request_many` is
    the stock `request_batch` (pipelined, replies in order) with the timeout the stock one lacks.
    """

    def receive(self):
        sock = self.sock
        message = unrealcv.SocketMessage.ReceivePayload(sock) if sock is not None else None
        if message is None:
            self.disconnect()
            raise ConnectionError(f"the UnrealCV server at {self.endpoint[0]}:{self.endpoint[1]} closed the "
                                  "connection")
        return message

    def receive_loop_queue(self):
        try:
            super().receive_loop_queue()
        except Exception as exc:  # noqa: BLE001 - hand any reader failure to the waiting request
            self.recv_data_q.put(exc if isinstance(exc, ConnectionError) else ConnectionError(str(exc)))

    def request_many(self, batch: Sequence[str], timeout: float) -> list:
        for message in batch:
            if not self.send(b"%d:%s" % (self.send_message_id, message.encode())):
                raise ConnectionError("failed to send: the connection is closed")
            self.send_message_id += 1
        self.recv_num_q.put(-len(batch))  # negative: the reader thread returns the replies
        deadline = time.monotonic() + timeout
        replies = []
        for message in batch:
            try:
                reply = self.recv_data_q.get(timeout=max(deadline - time.monotonic(), 0.0))
            except Empty:
                raise TimeoutError(f"no reply to '{message}' within {timeout:g} s") from None
            if reply is None or isinstance(reply, Exception):
                raise reply if isinstance(reply, Exception) else ConnectionError("connection lost")
            replies.append(reply)
        return replies

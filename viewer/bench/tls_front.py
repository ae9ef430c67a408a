"""HTTPS in front of the test Orthanc: a TLS listener that relays each connection's bytes to Orthanc's plain HTTP
port. Debian 12's Orthanc 1.10.1 dies with SIGSEGV on the first TLS handshake of its own HTTPS (SslEnabled), so the
launcher terminates TLS here instead; clients see a real certificate check either way (Python's ssl, no protocol of
our own: HTTP passes through untouched)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path


class TlsFront:
    """`start()` listens on 127.0.0.1:`port` with `cert`/`key` and relays to 127.0.0.1:`backend_port`; `stop()`."""

    def __init__(self, port: int, backend_port: int, cert: Path, key: Path) -> None:
        self.port, self.backend_port = port, backend_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(cert), str(key))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.server: asyncio.base_events.Server | None = None

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            try:
                self.server = self.loop.run_until_complete(asyncio.start_server(
                    self._relay, "127.0.0.1", self.port, ssl=self.context, reuse_address=True))
            except OSError as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=run, name="orthanc-tls-front", daemon=True)
        self.thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            back_reader, back_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            writer.close()  # Orthanc is down: the client sees the connection end, as it would
            return

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, back_writer), pump(back_reader, writer))

    def stop(self) -> None:
        loop, server = self.loop, self.server
        if loop is None or server is None:
            return

        async def close() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self.thread is not None:
            self.thread.join(10)
        self.loop = self.server = self.thread = None

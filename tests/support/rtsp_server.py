#!/usr/bin/python3
"""Minimal RTSP server for tests: serves H.264 elementary-stream files in a loop.

Run with Debian's system Python (the GObject bindings are not in the venv):

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 \
        --mount /cam1=/tmp/a.h264 [--mount /cam2=/tmp/b.h264] [--fps 25]

Needs: gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad.

Listens on 127.0.0.1 only and prints ``READY rtsp://127.0.0.1:PORT`` once the
socket is listening. Each mount loops its file forever at real time: frames are
timestamped from the frame rate (the SPS timing info written by make_clip.py,
or ``--fps``, which is needed for clips whose SPS has no timing info) and the
server's sinks sync to those timestamps.
Mounts are shared, like a real camera: every client sees the same live
position. Exits with status 0 on SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import itertools
import signal
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 (after require_version, as gi wants)


def _mount(text: str) -> tuple[str, Path]:
    """Parse ``/name=/path/clip.h264``."""
    name, sep, path = text.partition("=")
    if not sep or not name.startswith("/") or len(name) < 2:
        raise argparse.ArgumentTypeError(f"expected /mount=/path/clip.h264, got {text!r}")
    file = Path(path).resolve()
    if not file.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    return name, file


def _quote(value: str) -> str:
    """Quote a property value for the gst-launch syntax used by set_launch()."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _launch(file: Path, fps: int | None) -> str:
    # multifilesrc re-reads the same file forever (no %d in the name); h264parse
    # splits it into access units and, knowing the frame rate, gives each one a
    # DTS that keeps counting up across loops (see _timestamper for the PTS).
    # config-interval=0: rely on the SPS/PPS in the SDP and in the stream; with
    # -1 the 1.22 payloader also puts them between the slices of a multi-slice
    # keyframe, which makes FFmpeg split the frame and corrupt the whole GOP.
    caps = "video/x-h264,stream-format=byte-stream" + (f",framerate={fps}/1" if fps else "")
    return (f"( multifilesrc location={_quote(str(file))} loop=true caps={_quote(caps)} "
            "! h264parse name=parse ! rtph264pay name=pay0 pt=96 config-interval=0 )")


def _timestamper(fps: int | None):
    """Return a pad probe that gives each access unit leaving h264parse a PTS.

    A bare elementary stream has no timestamps; h264parse only interpolates the
    DTS from the SPS frame rate. Without a PTS the payloader stamps every RTP
    packet alike and the server's sinks cannot sync, so frames would go out as
    fast as possible. PTS == DTS is exact for streams without B-frames, as
    make_clip.py writes. With ``fps`` set, frames are simply numbered at that
    rate instead (h264parse prefers the SPS rate over upstream caps).
    """
    frames = itertools.count()

    def probe(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        buf = info.get_buffer()
        if fps:
            n = next(frames)
            buf.pts = buf.dts = n * Gst.SECOND // fps
            buf.duration = (n + 1) * Gst.SECOND // fps - buf.pts
        elif buf.pts == Gst.CLOCK_TIME_NONE:
            buf.pts = buf.dts
        return Gst.PadProbeReturn.OK

    return probe


def _on_media_configure(_factory, media: GstRtspServer.RTSPMedia, fps: int | None) -> None:
    # Called for every new media (a shared mount gets a fresh one once its last
    # client has gone), so each starts counting frames from zero.
    parse = media.get_element().get_by_name("parse")
    parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, _timestamper(fps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port for RTSP (on 127.0.0.1)")
    parser.add_argument("--mount", type=_mount, action="append", required=True,
                        metavar="/NAME=FILE", help="serve FILE (H.264 Annex B) at rtsp://.../NAME")
    parser.add_argument("--fps", type=int, default=None,
                        help="override the frame rate (default: the one in the clip's SPS)")
    args = parser.parse_args(argv)

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for name, file in args.mount:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(_launch(file, args.fps))
        factory.set_shared(True)
        factory.connect("media-configure", _on_media_configure, args.fps)
        mounts.add_factory(name, factory)

    # attach() creates, binds and listens on the socket right away; 0 = failure.
    if server.attach(None) == 0:
        print(f"ERROR: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{args.port}", flush=True)
    loop.run()

    # Drop client connections so readers see the stream end promptly.
    server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)
    return 0


if __name__ == "__main__":
    sys.exit(main())

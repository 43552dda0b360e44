"""A violation's clip as H.264 MP4 (maskwatch.clipvideo), decoded back with PyAV: every frame there,
at its capture time, the violator boxed in red, the other faces blurred."""
import io

import av
import cv2
import numpy as np

from maskwatch.clipvideo import encode_clip
from maskwatch.wire.clip_requests import ClipFrame

SIZE = (321, 241)  # odd sides: yuv420p wants even ones, the encoder must cope
OTHER = (200, 40, 280, 120)


def _jpeg(i: int) -> bytes:
    rng = np.random.default_rng(i)
    img = rng.integers(0, 255, (SIZE[1], SIZE[0], 3), np.uint8)  # fine detail: a blur shows
    img[:, :40] = (0, 160, 0)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def decoded(mp4: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(mp4)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        return list(c.decode(video=0))


def test_frames_keep_their_capture_times_and_faces():
    t0 = 1_700_000_000.0
    times = [t0 + 0.2 * i for i in range(20)] + [t0 + 4.5]  # 5 fps, then a gap: the clip keeps it
    frames = [(ClipFrame(t, (20, 20, 100, 100), (OTHER,)), _jpeg(i)) for i, t in enumerate(times)]
    mp4, n = encode_clip(list(reversed(frames)))  # any order in, capture order out
    assert n == len(times) and mp4[4:8] == b"ftyp"
    out = decoded(mp4)
    assert len(out) == n and (out[0].width, out[0].height) == (320, 240)
    assert [round(f.time, 2) for f in out] == [round(t - t0, 2) for t in times]
    img = out[5].to_ndarray(format="bgr24")
    edge = img[20:100, 20:23].reshape(-1, 3).mean(axis=0)  # the box's left side, on the green stripe
    assert edge[2] > edge[1] + 50 and edge[2] > edge[0] + 50, edge  # red (BGR), H.264's chroma blurs it a little
    original = cv2.imdecode(np.frombuffer(_jpeg(5), np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = OTHER
    assert img[y1 + 5:y2 - 5, x1 + 5:x2 - 5].std() < 0.5 * original[y1 + 5:y2 - 5, x1 + 5:x2 - 5].std()


def test_nothing_decodable_is_no_clip():
    assert encode_clip([(ClipFrame(1.0), b"not a jpeg")]) == (b"", 0)
    assert encode_clip([]) == (b"", 0)


def test_frames_of_another_size_are_scaled_to_the_first():
    small = cv2.imencode(".jpg", np.zeros((120, 160, 3), np.uint8))[1].tobytes()
    mp4, n = encode_clip([(ClipFrame(1.0), _jpeg(0)), (ClipFrame(1.2), small), (ClipFrame(1.2), small)])
    assert n == 2  # the second of one millisecond is dropped: a container holds one
    assert {(f.width, f.height) for f in decoded(mp4)} == {(320, 240)}

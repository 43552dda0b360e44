"""Ground truth for real footage, in a format people already label video in: MOTChallenge rows for
where each person is, and an attributes file of ours for what their face shows.

Per sequence STEM (the video's file name without its suffix):

- `STEM.gt.txt`, MOTChallenge: `frame,id,x,y,w,h,flag,class,visibility` (MOT16: only rows with flag
  1 and class 1 are people) or `frame,id,x,y,w,h,1,-1,-1,-1` (MOT15). Frames are 1-based. A tool
  such as CVAT exports it; rows may be sparse (keyframes): a person's box between two of their rows
  is interpolated, across at most MAX_GAP frames. The box is the whole person or the head: the
  scorer matches a face inside its upper part either way.
- `STEM.attributes.csv`, ours, keyed by sequence (the file), frame and id: rows
  `first_frame,last_frame,id,face,mask` over inclusive spans, with face `visible` or `hidden`
  (turned away, covered, out of focus beyond telling) and mask `none`, `worn`, `incorrect` or
  `unknown`. A person's frames that no row covers count as face hidden.
- The frame rate: `STEM.seqinfo.ini` (MOTChallenge's `frameRate`), else the video's own.

A person is a *violator* when their face is visible without a mask (or with one worn incorrectly)
for at least MIN_VISIBLE_S; *masked* when every visible span shows a mask worn; anyone else (seen
too briefly, never well enough to tell, or unknown) is *optional*: a violation on them is neither
a find nor a false alarm.
"""
from __future__ import annotations

import configparser
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskwatch.errors import MaskwatchError

MAX_GAP = 150          # frames a person's box is interpolated across between two rows
MIN_VISIBLE_S = 1.0    # an unmasked face seen at least this long makes a violator
FACES = ("visible", "hidden")
MASKS = ("none", "worn", "incorrect", "unknown")


class TruthError(MaskwatchError, ValueError):
    """A ground-truth file is missing or malformed; the message names the file and the line."""


@dataclass(frozen=True)
class Span:
    first: int
    last: int
    person: str
    face: str
    mask: str


def read_gt(path: Path) -> dict[str, dict[int, tuple[float, float, float, float]]]:
    """person id -> frame -> (x1, y1, x2, y2), the people's rows only (MOT16's flag and class)."""
    boxes: dict[str, dict[int, tuple[float, float, float, float]]] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise TruthError(f"{path}: unreadable: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cells = line.split(",")
        try:
            frame, pid, x, y, w, h = int(cells[0]), cells[1].strip(), *(float(c) for c in cells[2:6])
            # MOT16's nine columns carry a consider flag and a class; MOT15's ten (and keyframes) are people
            person = len(cells) != 9 or (int(cells[6]) == 1 and int(float(cells[7])) == 1)
        except (ValueError, IndexError):
            raise TruthError(f"{path}:{n}: expected frame,id,x,y,w,h,... got {line!r}") from None
        if person and w > 0 and h > 0:
            boxes.setdefault(pid, {})[frame] = (x, y, x + w, y + h)
    return boxes


def read_attributes(path: Path) -> list[Span]:
    spans = []
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except OSError as e:
        raise TruthError(f"{path}: unreadable: {e.strerror}") from None
    for n, row in enumerate(rows, 1):
        if not row or row[0].startswith("#") or row[0] == "first_frame":
            continue
        try:
            first, last, pid, face, mask = int(row[0]), int(row[1]), row[2].strip(), row[3].strip(), row[4].strip()
        except (ValueError, IndexError):
            raise TruthError(f"{path}:{n}: expected first_frame,last_frame,id,face,mask, got {row}") from None
        if face not in FACES or mask not in MASKS or last < first:
            raise TruthError(f"{path}:{n}: face one of {FACES}, mask one of {MASKS}, first <= last; got {row}")
        spans.append(Span(first, last, pid, face, mask))
    return spans


def interpolate(rows: dict[int, tuple[float, float, float, float]]) -> list[list[float]]:
    """[frame, x1, y1, x2, y2] for every frame between a person's rows (gaps up to MAX_GAP)."""
    frames = sorted(rows)
    out = [[f, *rows[f]] for f in frames[:1]]
    for a, b in zip(frames, frames[1:]):
        if b - a <= MAX_GAP:
            for f in range(a + 1, b):
                t = (f - a) / (b - a)
                out.append([f, *(float(v) for v in np.add(np.multiply(rows[a], 1 - t), np.multiply(rows[b], t)))])
        out.append([b, *rows[b]])
    return out


def frame_rate(stem_path: Path, video: Path | None) -> float:
    ini = stem_path.parent / f"{stem_path.name}.seqinfo.ini"
    if ini.is_file():
        parser = configparser.ConfigParser()
        parser.read(ini)
        return float(parser["Sequence"]["frameRate"])
    if video is not None and video.is_file():
        import cv2

        cap = cv2.VideoCapture(str(video))
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        if fps > 0:
            return float(fps)
    raise TruthError(f"{stem_path}: no frame rate (a .seqinfo.ini or a readable video)")


def judge(spans: list[Span], fps: float) -> tuple[bool, bool, int]:
    """(violator, masked, frames with the face visible) of one person's spans."""
    visible = [s for s in spans if s.face == "visible"]
    bare = sum(s.last - s.first + 1 for s in visible if s.mask in ("none", "incorrect"))
    masked = bool(visible) and all(s.mask == "worn" for s in visible)
    return bare / fps >= MIN_VISIBLE_S, masked, sum(s.last - s.first + 1 for s in visible)


def labelled_stems(labels: Path) -> list[str]:
    """The sequences `labels` annotates (a STEM.attributes.csv each), sorted."""
    return sorted(p.name.removesuffix(".attributes.csv") for p in labels.glob("*.attributes.csv"))


def labelled_videos(videos: list[Path], labels: Path) -> list[tuple[str, Path]]:
    """(stem, STEM.mp4) of each sequence `labels` annotates whose video is in one of the folders
    `videos` (the first that has it)."""
    out = []
    for stem in labelled_stems(labels):
        video = next((d / f"{stem}.mp4" for d in videos if (d / f"{stem}.mp4").is_file()), None)
        if video is not None:
            out.append((stem, video))
    return out


def load_truth(stem: str, labels: Path, videos: Path) -> dict:
    """The truth of one sequence in the person clips' shape (maskwatch.models.evaluation.clipscore):
    fps, and per person an id, whether a violator or masked, and boxes by frame."""
    video = videos / f"{stem}.mp4"
    gt = next((p for p in (labels / f"{stem}.gt.txt", videos / f"{stem}.gt.txt") if p.is_file()), None)
    if gt is None:
        raise TruthError(f"{stem}: no {stem}.gt.txt in {labels} or {videos}")
    fps = frame_rate(gt.parent / stem, video)
    boxes = read_gt(gt)
    spans = read_attributes(labels / f"{stem}.attributes.csv")
    unknown = sorted({s.person for s in spans} - set(boxes))
    if unknown:
        raise TruthError(f"{labels / f'{stem}.attributes.csv'}: ids {unknown} have no rows in {gt}")
    persons = []
    for pid, rows in sorted(boxes.items(), key=lambda kv: (len(kv[0]), kv[0])):
        violator, masked, seen = judge([s for s in spans if s.person == pid], fps)
        persons.append({"id": pid, "violator": violator, "masked": masked, "optional": not (violator or masked),
                        "visible_frames": seen, "boxes": interpolate(rows),
                        "visible": [[s.first, s.last] for s in spans if s.person == pid and s.face == "visible"]})
    return {"scenario": stem, "fps": fps, "boxes_are": "person", "persons": persons}

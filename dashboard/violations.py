"""The violations list (filters, keyset pages, bulk review, CSV), the detail page and its images.

Images are served only by violation id: the id is looked up in SQL and the stored relative path
resolved inside the snapshot folder, so nothing from the request ever names a file.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from maskwatch.dashboard.auth import require, safe_next
from maskwatch.dashboard.params import filter_args, parse_cursors, parse_filter, parse_sort, parse_status
from maskwatch.dashboard.state import state
from maskwatch.storage.queries import (
    NEWEST,
    BadQuery,
    as_utc,
    fetch_page,
    get_violation,
    iter_filtered,
    latest_created,
    review,
)
from maskwatch.storage.tables import ReviewLabel, ReviewStatus, Role, Verdict, Violation

bp = Blueprint("violations", __name__)
MAX_BULK = 1000
CSV_FIELDS = ("id", "camera_id", "first_seen", "last_seen", "verdict", "p_no_mask", "face_score",
              "face_width", "sightings", "review_status", "review_label", "review_note", "reviewed_by", "reviewed_at",
              "model_version")
STATUS_LABEL = {ReviewStatus.pending: "pending", ReviewStatus.confirmed: "confirmed",
                ReviewStatus.false_positive: "false positive"}
VERDICT_LABEL = {Verdict.no_mask: "no mask", Verdict.mask_incorrect: "mask worn incorrectly"}


def violation_or_404(vid: str) -> Violation:
    with state().sessions() as s:
        v = get_violation(s, vid)
    if v is None:
        abort(404, "no such violation")
    return v


# the sortable columns of the list: (header, sort column, what a first click shows)
SORTABLE = {"first_seen": "-first_seen", "p_no_mask": "-p_no_mask", "face_width": "face_width",
            "face_score": "face_score"}


def sort_links(current) -> dict[str, str]:
    """The sort parameter each column header links to: the other direction when it is the current
    sort, else that column's first direction (sure ones first; small and doubtful faces first)."""
    return {col: (current.flipped().param() if current.column == col else first) for col, first in SORTABLE.items()}


@bp.get("/")
def index():
    st = state()
    flt = parse_filter(request.args, st.config.zone)
    sort = parse_sort(request.args)
    before, after = parse_cursors(request.args)
    with st.sessions() as s:
        page = fetch_page(s, flt, st.config.dashboard.page_size, before, after, sort)
        # where the page starts watching for new rows (the database's clock, as the rows carry it)
        since = latest_created(s, flt) or dt.datetime.now(dt.UTC)
    args = filter_args(request.args)
    return render_template("violations.html", page=page, args=args, sort=sort, sort_links=sort_links(sort),
                           default_sort=sort == NEWEST, since=since.isoformat(),
                           list_args={k: v for k, v in args.items() if k != "sort"},
                           statuses=list(ReviewStatus), status_label=STATUS_LABEL,
                           verdicts=list(Verdict), verdict_label=VERDICT_LABEL)


@bp.get("/violations/<vid>")
def detail(vid: str):
    v = violation_or_404(vid)
    back = safe_next(request.args.get("back"), url_for("violations.index"))
    return render_template("violation.html", v=v, back=back, status_label=STATUS_LABEL,
                           verdict_label=VERDICT_LABEL)


def _required_review() -> tuple[ReviewStatus, ReviewLabel | None]:
    """The form's `status`: a status, or status/label ("false_positive/not_a_face")."""
    value, _, label = (request.form.get("status") or "").strip().partition("/")
    status = parse_status(value or None)
    if status is None:
        raise BadQuery("status: required")
    try:
        return status, ReviewLabel(label) if label else None
    except ValueError:
        raise BadQuery(f"status: label expected one of {', '.join(x.value for x in ReviewLabel)}") from None


@bp.post("/violations/<vid>/review")
@require(Role.operator)
def review_one(vid: str):
    violation_or_404(vid)
    status, label = _required_review()
    with state().sessions() as s:
        review(s, [vid], status, request.form.get("note"), current_user.username, label=label)
    flash(f"Marked {STATUS_LABEL[status]}.", "ok")
    return redirect(safe_next(request.form.get("next"), url_for("violations.detail", vid=vid)))


@bp.post("/violations/review")
@require(Role.operator)
def review_bulk():
    back = safe_next(request.form.get("next"), url_for("violations.index"))
    ids = request.form.getlist("ids")
    if not ids:
        flash("Select at least one violation first.", "error")
        return redirect(back)
    if len(ids) > MAX_BULK:
        raise BadQuery(f"at most {MAX_BULK} violations at once")
    status, label = _required_review()
    with state().sessions() as s:
        n = review(s, ids, status, request.form.get("note"), current_user.username, label=label)
    flash(f"{n} violation(s) marked {STATUS_LABEL[status]}.", "ok")
    return redirect(back)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return as_utc(value).isoformat()
    if isinstance(value, (ReviewStatus, ReviewLabel, Verdict)):
        return value.value
    text = str(value)
    # a note starting with = + - @ would run as a formula when the CSV is opened in a spreadsheet
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(rows: Iterable[Violation]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS + ("clip_url",))
    for row in rows:
        clip = url_for("violations.clip", vid=row.id, _external=True) if row.clip_path else ""
        writer.writerow([_cell(getattr(row, f)) for f in CSV_FIELDS] + [clip])
        if buf.tell() > 32_768:  # chunks of ~32 KiB, not one write per row
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


@bp.get("/violations.csv")
def export_csv():
    # parsed before streaming starts: a bad filter is still a 400
    flt, sort = parse_filter(request.args, state().config.zone), parse_sort(request.args)
    rows = iter_filtered(state().sessions, flt, sort=sort)
    name = f"violations-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.csv"
    return Response(stream_with_context(csv_lines(rows)), mimetype="text/csv",
                    # a list of people's violations and reviews: no browser or proxy cache keeps a copy
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _snapshot(vid: str, kind: str):
    v = violation_or_404(vid)
    rel = {"crop": v.crop_path, "frame": v.frame_path, "clip": v.clip_path}[kind]
    if not rel:
        abort(404, "no clip for this violation")
    try:
        path = state().snapshots.resolve(rel)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404, f"{kind} not stored (deleted by retention?)")
    # conditional: ETag, Last-Modified and Range requests (a video element seeks with them)
    resp = send_file(path, mimetype="video/mp4" if kind == "clip" else "image/jpeg", max_age=3600, conditional=True)
    # behind a login: browsers may cache, shared proxies may not
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp


@bp.get("/violations/<vid>/crop.jpg")
def crop(vid: str):
    return _snapshot(vid, "crop")


@bp.get("/violations/<vid>/frame.jpg")
def frame(vid: str):
    return _snapshot(vid, "frame")


@bp.get("/violations/<vid>/clip.mp4")
def clip(vid: str):
    return _snapshot(vid, "clip")

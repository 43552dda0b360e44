"""The settings `replaytracks` replays: each grid a selection (`--select NAME`) with the setting
shipped when it was made (among ties, the smallest change from it wins). An entry is
(events overrides, descriptor kind, camera-motion compensation); the overrides' `small` (a rule for
smaller faces) and `vote` (studies.trackvote) are the replay's own, not EventsConfig's."""
from __future__ import annotations

# the fourth session's comparison (docs/real-footage.md, "A camera that moves"), at the gates it had
GATES_THEN = {"appearance_gate": 0.5, "overlap_gate": None}
VARIANTS = {
    "face": (GATES_THEN, "face", False),
    "face+cmc": (GATES_THEN, "face", True),
    "clothing": (GATES_THEN, "both", False),
    "clothing+cmc": (GATES_THEN, "both", True),
    "face+cmc gate0.4": ({**GATES_THEN, "appearance_gate": 0.4}, "face", True),
    "face+cmc oncourse0.6": ({**GATES_THEN, "on_course_threshold": 0.6}, "face", True),
}


# the gates and the on-course bar, for a selection made out of fold (--select). BEFORE: the setting
# shipped when the selection was made (2026-12-07); among ties, the smallest change from it wins
BEFORE = "gate0.5"
GRID = {f"gate{g}" + ("" if o is None else f" overlap{o}") + ("" if c == 0.7 else f" oncourse{c}"):
        ({"appearance_gate": g, "overlap_gate": o, "on_course_threshold": c}, "face", True)
        for g in (0.5, 0.4, 0.6) for o in (None, 0.4, 0.3, 0.2) if o is None or o < g for c in (0.7, 0.6, 0.5)}


# who a violator is, at the gates shipped: the descriptor and identity_threshold, for a selection
# made out of fold (--select identity). BEFORE_IDENTITY: the default when it was made (2026-12-07)
BEFORE_IDENTITY = "face 0.88"
IDENTITY_GRID = {f"{name} {t:g}": ({"identity_threshold": t}, kind, True)
                 for name, kind in (("face", "face"), ("face+clothing", "both")) for t in (0.88, 0.84, 0.8, 0.76)}
# a face-recognition model's descriptor (--select face-id --face-id SCENES_DIR), alone and joined to
# clothing, beside the descriptor shipped since (BEFORE_FACE_ID)
BEFORE_FACE_ID = "face+clothing 0.84"
FACE_ID_GRID = {f"{name} {t:g}": ({"identity_threshold": t}, kind, True)
                for name, kind in (("face+clothing", "both"), ("face-id", "face-id"),
                                   ("face-id+clothing", "face-id+clothing")) for t in (0.88, 0.84, 0.8, 0.76)}
# faces the detector doubts, on a track seen sure (events.confirmed_min_score), at the descriptor
# and threshold shipped the same day (--select confirmed); before: none (off)
BEFORE_CONFIRMED = "confirmed off"
CONFIRMED_GRID = {"confirmed " + ("off" if c is None else f"{c:g}"):
                  ({"identity_threshold": 0.84, "confirmed_min_score": c}, "both", True)
                  for c in (None, 0.7, 0.6, 0.5, 0.4)}
# the vote asked otherwise (--select vote, studies.trackvote): only faces that can tell in the
# window, or a vote over the whole track beside the window's, at the descriptor shipped (BEFORE_VOTE)
BEFORE_VOTE = "the window alone"
VOTE_GRID = {BEFORE_VOTE: ({"identity_threshold": 0.84}, "both", True),
             "only faces that can tell in the window": ({"identity_threshold": 0.84, "vote": ("tell",)}, "both", True),
             **{f"whole track: weight {k:g}, share {m:g}": ({"identity_threshold": 0.84, "vote": ("track", k, m)},
                                                          "both", True)
                for k in (1.0, 1.5, 2.0, 2.5) for m in (0.5, 0.65, 0.8)}}
# a model's rule varied for its smaller faces (--select rules): whether a model that loses people on
# footage is a threshold away from finding them; the grid is the model's own (its rule beside)
BEFORE_RULES = "the model's rule"


def rule_grid(min_score: float) -> dict:
    at = {"identity_threshold": 0.84}
    grid = {BEFORE_RULES: (at, "both", True)}
    for px in (16.0, 24.0, 32.0, float("inf")):
        for t, s in ((t, s) for t in (0.3, 0.5, 0.7, 0.85) for s in (min_score, 0.7)):
            name = ("every face" if px == float("inf") else f"under {px:g} px") + f": p {t:g}, face {s:g}"
            grid[name] = ({**at, "small": (px, t, s)}, "both", True)
    return grid


# who is who by a metric learnt on the other videos' people (--select learned, studies.learnedid),
# beside the descriptor shipped (BEFORE_LEARNED); its cosines are its own (people of one video are
# more alike in it), so its association gates (the overlap gate 0.1 below) and thresholds are gridded
BEFORE_LEARNED = "face+clothing 0.84"
LEARNED_GRID = {BEFORE_LEARNED: ({"identity_threshold": 0.84}, "both", True),
                **{f"learned gate{g:g} {t:g}" + ("" if c == 0.7 else f" oncourse{c:g}"):
                   ({"appearance_gate": g, "overlap_gate": round(g - 0.1, 2), "identity_threshold": t,
                     "on_course_threshold": c}, "learned", True)
                   for g in (0.4, 0.6, 0.75) for t in (0.92, 0.88, 0.84, 0.8) for c in (0.7, 0.8) if c <= t}}

# the vote's size (--select judge): vote_k of vote_n, and how small faces weigh (judge_min_px: none
# below, vote_k / vote_n at it; judge_full_px: a whole vote from it), all chosen by hand on the run
# path's rows (docs/real-footage.md, "Judge only what can be judged"); at the descriptor shipped
BEFORE_JUDGE = "3 of 5, 10-24 px"
JUDGE_GRID = {f"{k} of {n}, {lo:g}-{hi:g} px": ({"identity_threshold": 0.84, "vote_k": k, "vote_n": n,
                                                "judge_min_px": lo, "judge_full_px": hi}, "both", True)
              for k, n in ((3, 5), (2, 3), (2, 4), (2, 5), (3, 6), (4, 7))
              for lo in (8.0, 10.0, 12.0) for hi in (14.0, 16.0, 20.0, 24.0, 32.0)}

# a second look before a second row (--select second-look, studies.secondlook): a track that passes
# the vote looking `bar` alike a violator seen within `recent_s` waits up to `wait_s` to be told
BEFORE_SECOND_LOOK = "no second look"
SECOND_LOOK_GRID = {BEFORE_SECOND_LOOK: ({"identity_threshold": 0.84}, "both", True),
                    **{f"second look: {bar:g} alike, within {recent:g} s, up to {wait:g} s":
                       ({"identity_threshold": 0.84, "vote": ("second-look", bar, wait, recent)}, "both", True)
                       for bar in (0.5, 0.6, 0.7) for wait in (1.0, 2.0, 4.0) for recent in (2.0, 5.0, 10.0)}}

# the vote for a higher rate (--select rate, run with --fps 10): the shipped 3 of 5 (half a second at
# 10 fps) beside the same second (6 of 10) and 5 of 10
BEFORE_RATE = "3 of 5"
RATE_GRID = {f"{k} of {n}": ({"identity_threshold": 0.84, "vote_k": k, "vote_n": n}, "both", True)
             for k, n in ((3, 5), (6, 10), (5, 10))}

SELECTIONS = {"gates": (GRID, BEFORE), "identity": (IDENTITY_GRID, BEFORE_IDENTITY),
              "confirmed": (CONFIRMED_GRID, BEFORE_CONFIRMED), "rules": (None, BEFORE_RULES),
              "face-id": (FACE_ID_GRID, BEFORE_FACE_ID), "vote": (VOTE_GRID, BEFORE_VOTE),
              "learned": (LEARNED_GRID, BEFORE_LEARNED), "judge": (JUDGE_GRID, BEFORE_JUDGE),
              "second-look": (SECOND_LOOK_GRID, BEFORE_SECOND_LOOK), "rate": (RATE_GRID, BEFORE_RATE)}

"""`maskwatch tokens add NAME --scope read|review | list | revoke NAME`: API tokens for machines
(maskwatch.storage.tokens). A new token is printed once; only its hash is kept."""
from __future__ import annotations

from maskwatch.config import Config, ConfigError


def cmd_tokens(args, cfg: Config) -> int:
    from maskwatch.commands.run import DEMO_DATABASE
    from maskwatch.commands.services import _require_schema, _sessions
    from maskwatch.storage import tokens

    if args.demo:
        cfg = cfg.model_copy(update={"database": cfg.database.model_copy(update={"url": f"sqlite:///{DEMO_DATABASE}"})})
    _require_schema(cfg)
    sessions = _sessions(cfg)
    try:
        with sessions.begin() as s:
            if args.action == "add":
                if not args.name or not args.scope:
                    raise ConfigError("tokens add: give NAME and --scope read|review")
                row, token = tokens.create(s, args.name, args.scope, "cli")
                print(f"token {row.name} ({row.scope.value}): {token}")
                print("shown once: store it now; only its hash is kept")
            elif args.action == "revoke":
                if not args.name:
                    raise ConfigError("tokens revoke: give the token's NAME")
                row = tokens.revoke(s, args.name)
                print(f"token {row.name}: revoked")
            else:
                for row in tokens.listing(s):
                    state = "revoked" if row.revoked_at else "live"
                    used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never"
                    print(f"{row.name}\t{row.scope.value}\t{state}\t{row.hint}...\tlast used {used}")
    except tokens.TokenError as e:
        raise ConfigError(str(e)) from None
    return 0

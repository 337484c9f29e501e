"""Session tokens (signed, expiring) and host-site JWTs (HS256 or RS256 via PyJWT)."""

from __future__ import annotations

import time
from typing import Any

import jwt
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .config import Settings
from .errors import ProtocolError


class Tokens:
    """Signs session ids into tokens and verifies host-site JWTs."""

    def __init__(self, settings: Settings) -> None:
        self._signer = URLSafeTimedSerializer(settings.secret_key, salt="planwise-session-token")
        self._max_age = settings.session_max_age
        self._settings = settings

    def issue(self, session_id: str) -> str:
        return self._signer.dumps(session_id)

    def session_id(self, token: object) -> str:
        """The session id a token names; ``invalid_token`` when bad or expired."""
        if not isinstance(token, str) or not token or len(token) > 512:
            raise ProtocolError("invalid_token", "The session token is not valid")
        try:
            value = self._signer.loads(token, max_age=self._max_age)
        except SignatureExpired as exc:
            raise ProtocolError("invalid_token", "The session token has expired") from exc
        except BadSignature as exc:
            raise ProtocolError("invalid_token", "The session token is not valid") from exc
        if not isinstance(value, str):
            raise ProtocolError("invalid_token", "The session token is not valid")
        return value

    def user_sub(self, auth_token: object) -> str:
        """The host site's user id (``sub``) from a verified JWT; ``unauthorized`` otherwise.

        Strict claims: ``exp`` (and ``iat``/``nbf`` when present) are JSON numbers, not strings;
        the token lives at most ``PLANWISE_JWT_MAX_LIFETIME`` (from ``iat``, or from now);
        ``PLANWISE_JWT_LEEWAY`` seconds of clock skew (5 by default); ``aud``/``iss`` are required
        and checked when configured.
        """
        s = self._settings
        if not isinstance(auth_token, str) or not auth_token or len(auth_token) > 8192:
            raise ProtocolError("unauthorized", "The sign-in token is not valid")
        keys: list[tuple[str, str]] = []
        if s.jwt_secret:
            keys.append((s.jwt_secret, "HS256"))
        if s.jwt_public_key:
            keys.append((s.jwt_public_key, "RS256"))
        if not keys:
            raise ProtocolError("unauthorized", "Sign-in with a host-site token is not configured")
        required = ["sub", "exp"] + (["aud"] if s.jwt_audience else []) + (["iss"] if s.jwt_issuer else [])
        options: Any = {"require": required, "verify_aud": bool(s.jwt_audience)}
        for key, algorithm in keys:
            try:
                claims = jwt.decode(
                    auth_token,
                    key,
                    algorithms=[algorithm],
                    audience=s.jwt_audience or None,
                    issuer=s.jwt_issuer or None,
                    options=options,
                    leeway=s.jwt_leeway,
                )
            except jwt.InvalidTokenError:
                continue
            sub = claims.get("sub")
            if isinstance(sub, str) and 0 < len(sub) <= 200 and self._lifetime_ok(claims):
                return sub
        raise ProtocolError("unauthorized", "The sign-in token is not valid")

    def _lifetime_ok(self, claims: dict[str, Any]) -> bool:
        """Numeric time claims, and a lifetime within the configured maximum."""
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and (not isinstance(value, int | float) or isinstance(value, bool)):
                return False  # PyJWT accepts "exp": "1700000000"; RFC 7519 says a NumericDate
        settings = self._settings
        start = claims.get("iat", time.time())
        if start > time.time() + settings.jwt_leeway:
            return False  # issued in the future
        return float(claims["exp"]) - float(start) <= settings.jwt_max_lifetime + settings.jwt_leeway

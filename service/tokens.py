"""Session tokens (signed, expiring) and host-site JWTs (HS256 or RS256 via PyJWT)."""

from __future__ import annotations

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
        """The host site's user id (``sub``) from a verified JWT; ``unauthorized`` otherwise."""
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
        options: Any = {"require": ["sub", "exp"], "verify_aud": bool(s.jwt_audience)}
        for key, algorithm in keys:
            try:
                claims = jwt.decode(
                    auth_token,
                    key,
                    algorithms=[algorithm],
                    audience=s.jwt_audience or None,
                    issuer=s.jwt_issuer or None,
                    options=options,
                    leeway=30,
                )
            except jwt.InvalidTokenError:
                continue
            sub = claims.get("sub")
            if isinstance(sub, str) and 0 < len(sub) <= 200:
                return sub
        raise ProtocolError("unauthorized", "The sign-in token is not valid")

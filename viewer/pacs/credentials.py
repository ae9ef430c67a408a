"""A DICOMweb node's password or token: in the OS keyring when it has a usable backend, else in this process's
memory only, asked once per session. Never logged, printed or written to a file (pacs.json holds the user name,
never the secret); messages name the node, never the secret."""

from __future__ import annotations

from collections.abc import Callable

from .nodes import Node

SERVICE = "RadCAM PACS"

# The session's secrets when there is no keyring: {keyring user name: secret}; gone when the process ends.
_session: dict[str, str] = {}


def _account(node: Node) -> str:
    return f"{node.name}:{node.username}"


def keyring_available() -> bool:
    """Whether an OS keyring would keep a secret (not keyring's 'fail' or 'null' backend, nor an empty chain)."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken keyring installation is no keyring
        return False
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    return True


def _from_keyring(node: Node) -> str | None:
    if not keyring_available():
        return None
    try:
        import keyring

        return keyring.get_password(SERVICE, _account(node))
    except Exception:  # noqa: BLE001 - a locked or failing keyring: fall back to asking (its text may echo data)
        return None


def secret_for(node: Node, ask: Callable[[Node], str | None] | None = None) -> str | None:
    """None when the node needs no secret; else the keyring's, else this session's, else `ask(node)`'s answer
    (kept for the rest of the session; a refusal to answer is not kept, so the next use asks again)."""
    if not node.needs_secret:
        return None
    found = _from_keyring(node)
    if found:
        return found
    account = _account(node)
    if account in _session:
        return _session[account]
    if ask is None:
        return None
    answer = ask(node)
    if answer:
        _session[account] = answer
    return answer or None


def store_secret(node: Node, secret: str) -> bool:
    """Keep `secret` for `node`: True when the OS keyring took it, False when only this session remembers it."""
    account = _account(node)
    if keyring_available():
        try:
            import keyring

            keyring.set_password(SERVICE, account, secret)
            _session.pop(account, None)
            return True
        except Exception:  # noqa: BLE001 - the keyring refused (locked, read-only): the session keeps it
            pass
    _session[account] = secret
    return False


def forget_secret(node: Node) -> None:
    """Drop the node's secret from the keyring and from this session (a removed or renamed node, a wrong one)."""
    account = _account(node)
    _session.pop(account, None)
    if keyring_available():
        try:
            import keyring

            keyring.delete_password(SERVICE, account)
        except Exception:  # noqa: BLE001 - nothing stored there, or the keyring refused: nothing more to do
            pass

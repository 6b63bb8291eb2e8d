"""The header set a Websim page in a desktop browser sends, which the anonymous API expects."""

from collections.abc import Mapping

from .catalog import Kind

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/133.0.0.0 Safari/537.36"
)
_ORIGIN = "https://websim.ai"
# Each kind of call is made from a different kind of Websim project page.
_REFERERS: dict[Kind, str] = {
    "chat": f"{_ORIGIN}/@websim/ai-chat",
    "image": f"{_ORIGIN}/@websim/ai-image-generator",
}


def build_headers(kind: Kind, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers for a `"chat"` or `"image"` request; `extra` entries are added last and win."""
    if kind not in _REFERERS:
        raise ValueError(f"kind must be 'chat' or 'image', not {kind!r}")
    headers = {
        "accept": "*/*",
        "accept-language": "en-US,en;q=0.9",
        # Websim's own pages post JSON text under this type; the API accepts it as JSON.
        "content-type": "text/plain;charset=UTF-8",
        "origin": _ORIGIN,
        "referer": _REFERERS[kind],
        "user-agent": USER_AGENT,
        # Sent empty by the browser. A name with a trailing ';' (as some clients write it) is
        # illegal and strict servers answer 400 to it.
        "websim-flags": "",
    }
    if extra:
        headers.update({name.lower(): value for name, value in extra.items()})
    return headers

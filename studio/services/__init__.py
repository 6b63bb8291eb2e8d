"""What one server process shares, below every turn and surface: its settings (`config`), the
Websim client, guard and image fetcher (`shared.Services`), kept files (`files`), per-client
limits (`rate_limit`), who a request comes from (`identity`), metrics (`metrics`) and the ASGI
vocabulary (`asgi`).

Nothing here knows of a turn or a surface.
"""

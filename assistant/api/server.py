"""One ASGI app on one port: the OpenAI-compatible API (``/v1``), MCP (``/mcp``) and the browser chat (``/``).

``assistant serve`` runs all three; ``assistant api`` runs the API and MCP without the browser app. The
server binds 127.0.0.1 by default and, until API keys are configured, answers API and MCP requests from
loopback clients only (``keys.py``). Uvicorn's access log is off: request lines would carry nothing
secret, but nothing is logged that does not need to be.
"""

from __future__ import annotations

import socket
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import ConfigError
from ..library import Library
from . import openai
from .keys import ApiKeys


def build_server(library: Library, keys: ApiKeys, *, ui: Any = None, ui_options: dict[str, Any] | None = None,
                 auth: tuple[str, str] | None = None, max_file_mb: float = 20.0, mcp: bool = True) -> FastAPI:
    """The app: ``/v1`` and ``/mcp`` over ``library``; ``ui`` (a Gradio ``Blocks``) mounted at ``/`` with
    ``ui_options`` (``ui.app.gradio_options``: its look, the features left off) and the login ``auth``."""
    lifespan = None
    mcp_app = None
    if mcp:
        from .mcp import mcp_http_app

        mcp_app, lifespan = mcp_http_app(library, keys)
    app = FastAPI(title="doc-assistant", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return openai.ApiError(400, "the request is not valid; send JSON with 'model' and 'messages'").response()

    app.include_router(openai.routes(library, keys))
    if mcp_app is not None:
        app.add_route("/mcp", mcp_app, include_in_schema=False)  # without the slash too, no redirect
        app.mount("/mcp", mcp_app)
    if ui is not None:
        import gradio as gr

        app = gr.mount_gradio_app(app, ui, path="/", auth=auth, max_file_size=int(max_file_mb * 1024 * 1024),
                                  **(ui_options or {}))
        # Gradio accepts a file path in a request only if it is one of its own uploads, but checks that
        # only once the Blocks "has launched", which launch() sets and mount_gradio_app (6.31) does not:
        # without this a client could name any file (/etc/passwd) to the upload endpoints.
        ui.has_launched = True
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line ``ConfigError`` (port taken, bad address)."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(2048)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port} ({exc.strerror or exc}); pass another --port or --host") \
            from None
    sock.set_inheritable(True)
    return sock


def run(app: FastAPI, host: str, port: int, on_ready=None) -> None:
    """Serve ``app`` until Ctrl-C; ``on_ready()`` is called once the port listens (a client that connects
    before uvicorn has started waits in the socket's backlog, it is not refused)."""
    import uvicorn

    sock = bind(host, port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=3)
    if on_ready is not None:
        on_ready()
    uvicorn.Server(config).run(sockets=[sock])

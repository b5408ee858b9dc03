"""One port for the OpenAI-compatible API (``/v1``), MCP (``/mcp``) and the browser chat (``/``).

``assistant serve`` runs all three (``launch_with_chat``: the chat's own Gradio server, built with the API's
routes); ``assistant api`` runs the API and MCP without the browser app (``build_server`` + ``run``). The
server binds 127.0.0.1 by default and, until API keys are configured, answers API and MCP requests from
loopback clients only (``keys.py``). Uvicorn's access log is off: request lines would carry nothing
secret, but nothing is logged that does not need to be.
"""

from __future__ import annotations

import socket
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.routing import Mount, Route

from ..errors import ConfigError
from ..library import Library
from . import openai
from .keys import ApiKeys


def build_server(library: Library, keys: ApiKeys, *, mcp: bool = True) -> FastAPI:
    """The API and MCP alone (``assistant api``, tests, benchmarks): ``/v1`` and ``/mcp`` over ``library``."""
    mcp_app, lifespan = _mcp(library, keys, mcp)
    return FastAPI(title="doc-assistant", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
                   **api_parts(library, keys, mcp_app))


def launch_with_chat(demo: Any, library: Library, keys: ApiKeys, *, host: str, port: int,
                     launch_options: dict[str, Any], mcp: bool = True) -> Any:
    """Serve the browser chat with Gradio's own ``launch()``, its app built with ``/v1`` and ``/mcp``.

    Mounting the chat on an app of ours (``gr.mount_gradio_app``, Gradio 6.31) lost questions in the
    browser now and then on a busy machine (tests/test_browser.py failed in about half of a dozen runs; with
    launch() in none of 6), so the chat keeps the server it is tested on and the API joins it: Gradio has
    no catch-all route and builds its app with our ``app_kwargs`` (the API's routes, its error handler,
    the MCP lifespan). The routes are there before the server takes its first request: added after
    ``launch()`` returned, a client that came at once (the test fixture on a busy machine) got 404 from
    ``/v1``. Returns after the server started; block with ``demo.block_thread()``.
    """
    mcp_app, lifespan = _mcp(library, keys, mcp)
    options = dict(launch_options)
    app_kwargs = {**options.get("app_kwargs", {}), **api_parts(library, keys, mcp_app)}
    if lifespan is not None:
        app_kwargs["lifespan"] = lifespan
    options["app_kwargs"] = app_kwargs
    try:
        demo.launch(server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=True,
                    quiet=True, **options)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port} ({exc}); pass another --port or --host") from None
    return demo.server_app


def api_parts(library: Library, keys: ApiKeys, mcp_app: Any = None) -> dict[str, Any]:
    """The FastAPI arguments that make an app serve ``/v1`` (and ``/mcp``): its routes, and OpenAI-shaped
    errors for invalid bodies."""
    async def invalid(request: Request, exc: RequestValidationError):
        return openai.ApiError(400, "the request is not valid; send JSON with 'model' and 'messages'").response()

    routes = list(openai.routes(library, keys).routes)
    if mcp_app is not None:
        routes += [Route("/mcp", mcp_app), Mount("/mcp", app=mcp_app)]  # without the slash too, no redirect
    return {"routes": routes, "exception_handlers": {RequestValidationError: invalid}}


def _mcp(library: Library, keys: ApiKeys, wanted: bool) -> tuple[Any, Any]:
    if not wanted:
        return None, None
    from .mcp import mcp_http_app

    return mcp_http_app(library, keys)


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

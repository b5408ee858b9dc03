"""An OpenAI-compatible chat API that keeps the citations: ``/v1/models`` and ``/v1/chat/completions``.

Any OpenAI client works with ``base_url="http://127.0.0.1:7860/v1"``. ``model`` names a collection
(``seeds``), optionally with an answer mode (``seeds:llm``, ``seeds:extractive``). The conversation is the
request's ``messages`` (nothing is kept between requests, so follow-ups work from any client): the last
message is the question and earlier user messages are its history. The answer text keeps its ``[n]``
markers; the response carries a top-level ``citations`` array (number, document, title, location, start,
end, quote, score) and ``refused``. A stream sends the verified answer in pieces, and its last chunk before
``[DONE]`` carries ``citations`` and ``refused`` (in llm mode the answer is verified before the first piece
is sent, so a client never shows a sentence that was then dropped; SSE comments keep the line alive).

Errors use OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``) and status codes: 400 for
an empty or malformed request, 401 for a missing or unknown key, 403 for a collection the key may not use,
404 for an unknown model, 413 for a request over the size limit, 503 while a collection is being indexed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..citations import Answer
from ..config import ANSWER_MODES
from ..errors import (
    AssistantError,
    CollectionLoadingError,
    ConfigError,
    QuestionError,
    UnknownCollectionError,
)
from ..library import Library
from ..questions import MAX_QUESTION_CHARS
from .keys import Access, ApiKeys, Denied

MAX_BODY_BYTES = 1_000_000  # a request body over this is refused with 413 before it is parsed
MAX_MESSAGES = 100
KEEP_ALIVE_SECONDS = 5.0
PIECE_WORDS = 3  # words per streamed piece


class ApiError(Exception):
    """An error response in OpenAI's shape."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_from(exc: Exception) -> ApiError:
    """The API error for an exception the assistant raised."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Denied):
        kind = "authentication_error" if exc.status == 401 else "permission_error"
        return ApiError(exc.status, str(exc), kind, "invalid_api_key" if exc.status == 401 else "forbidden")
    if isinstance(exc, CollectionLoadingError):
        return ApiError(503, str(exc), "server_error", "collection_loading", headers={"Retry-After": "5"})
    if isinstance(exc, UnknownCollectionError):
        return ApiError(404, str(exc), "invalid_request_error", "model_not_found", "model")
    if isinstance(exc, (QuestionError, ConfigError)):
        return ApiError(400, str(exc), "invalid_request_error", None, "messages")
    if isinstance(exc, AssistantError):
        return ApiError(503, str(exc), "server_error", "unavailable")
    return ApiError(500, "internal error; the server log has the details", "server_error", "internal_error")


def caller(request: Request, keys: ApiKeys) -> Access:
    host = request.client.host if request.client else None
    return keys.check(request.headers.get("authorization"), host, request.headers.get("host"))


def resolve_model(model: Any, library: Library, access: Access) -> tuple[str, str | None]:
    """(collection, answer mode or None) from ``model``: ``NAME`` or ``NAME:MODE``."""
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "'model' must name a collection (GET /v1/models lists them)", param="model")
    name, _, mode = model.strip().partition(":")
    if name not in library.names:
        raise ApiError(404, f"the model {name!r} does not exist; GET /v1/models lists the models you can use",
                       code="model_not_found", param="model")
    if not access.may_use(name):
        raise ApiError(403, f"your API key may not use the model {name!r}", "permission_error", "forbidden", "model")
    if mode and mode not in ANSWER_MODES:
        raise ApiError(400, f"answer mode {mode!r} after ':' must be one of {', '.join(ANSWER_MODES)}", param="model")
    return name, mode or None


def conversation(messages: Any) -> tuple[str, list[str]]:
    """(question, earlier user questions) from OpenAI ``messages``; ``ApiError`` (400) when unusable."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list of {role, content} objects", param="messages")
    if len(messages) > MAX_MESSAGES:
        raise ApiError(400, f"at most {MAX_MESSAGES} messages per request; send the recent part of the conversation",
                       param="messages")
    users: list[str] = []
    last_role = ""
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(400, f"messages[{i}] must be an object with a 'role' and a 'content'", param="messages")
        role = message["role"]
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise ApiError(400, f"messages[{i}] has an unknown role {role!r}", param="messages")
        text = _text(message.get("content"), i)
        if role == "user":
            if len(text) > MAX_QUESTION_CHARS:
                raise ApiError(400, f"messages[{i}] is longer than {MAX_QUESTION_CHARS} characters; ask a shorter "
                               "question", param="messages")
            users.append(text)
        last_role = role
    if not users:
        raise ApiError(400, "'messages' has no user message: the last user message is the question",
                       param="messages")
    if last_role != "user":
        raise ApiError(400, "the last message must be the user's question", param="messages")
    return users[-1], users[:-1]


def _text(content: Any, i: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text parts can be answered from documents
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ApiError(400, f"messages[{i}].content may hold only text parts", param="messages")
            parts.append(part["text"])
        return "\n".join(parts)
    raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts", param="messages")


def citations_json(answer: Answer) -> list[dict[str, Any]]:
    return [{"number": c.number, "document": c.doc_id, "title": c.title, "location": dict(c.location),
             "start": c.start, "end": c.end, "quote": c.quote, "score": c.score, "span": c.span}
            for c in answer.citations]


async def read_json(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"the request is larger than {MAX_BODY_BYTES // 1_000_000} MB; send a shorter "
                       "conversation", code="request_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request is larger than {MAX_BODY_BYTES // 1_000_000} MB; send a shorter "
                           "conversation", code="request_too_large")
    try:
        data = json.loads(bytes(body) or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc.__class__.__name__}); send a JSON object") \
            from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object with 'model' and 'messages'")
    return data


def _options(data: dict[str, Any]) -> dict[str, Any]:
    """``temperature``/``max_tokens`` for llm mode (checked), ``stream``."""
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false", param="stream")
    temperature = data.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not 0 <= temperature <= 2):
        raise ApiError(400, "'temperature' must be a number from 0 to 2", param="temperature")
    max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or not 16 <= max_tokens <= 4096):
        raise ApiError(400, "'max_tokens' must be a whole number from 16 to 4096", param="max_tokens")
    return {"stream": stream, "temperature": temperature, "max_tokens": max_tokens}


def answer(library: Library, name: str, mode: str | None, question: str, history: list[str],
           temperature: float | None = None, max_tokens: int | None = None) -> Answer:
    """Ask ``question`` of collection ``name`` (blocking; run it in a thread)."""
    bot = library.get(name, wait=False)
    generation = {k: v for k, v in (("temperature", temperature), ("max_tokens", max_tokens)) if v is not None}
    return bot.ask(question, history=history, mode=mode, generation=generation or None)


def routes(library: Library, keys: ApiKeys) -> APIRouter:
    """The ``/v1`` routes over ``library``, each request checked against ``keys``."""
    router = APIRouter(prefix="/v1")

    @router.get("/models")
    async def models(request: Request):
        try:
            access = caller(request, keys)
        except Exception as exc:
            return error_from(exc).response()
        created = int(time.time())
        data = [{"id": name, "object": "model", "created": created, "owned_by": "doc-assistant"}
                for name in access.visible(library.names)]
        return {"object": "list", "data": data}

    @router.post("/chat/completions")
    async def chat_completions(request: Request):
        try:
            access = caller(request, keys)
            data = await read_json(request)
            name, mode = resolve_model(data.get("model"), library, access)
            question, history = conversation(data.get("messages"))
            options = _options(data)
        except Exception as exc:
            return error_from(exc).response()
        model = data["model"]
        ident = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        job = asyncio.ensure_future(run_in_threadpool(
            answer, library, name, mode, question, history, options["temperature"], options["max_tokens"]))
        if not options["stream"]:
            try:
                result = await job
            except Exception as exc:
                return error_from(exc).response()
            return {"id": ident, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text},
                                 "finish_reason": "stop", "logprobs": None}],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                    "citations": citations_json(result), "refused": result.refused,
                    "kind": result.kind, "missing": result.missing}
        # A bad question or a collection still loading answers with an error status, not a broken stream.
        try:
            await asyncio.wait_for(asyncio.shield(job), timeout=KEEP_ALIVE_SECONDS)
        except asyncio.TimeoutError:
            pass  # still answering (llm mode): the stream starts now and keeps the line alive meanwhile
        except Exception as exc:
            return error_from(exc).response()
        return StreamingResponse(_chunks(job, ident, created, model), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _chunks(job: asyncio.Future, ident: str, created: int, model: str) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return _event({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra})

    yield chunk({"role": "assistant", "content": ""})
    while not job.done():
        done, _ = await asyncio.wait({job}, timeout=KEEP_ALIVE_SECONDS)
        if not done:
            yield ": keep-alive\n\n"
    try:
        result = job.result()
    except Exception as exc:  # the stream has started: the error is its last event, in OpenAI's shape
        yield _event(error_from(exc).body())
        yield "data: [DONE]\n\n"
        return
    words = result.text.split(" ")
    for i in range(0, len(words), PIECE_WORDS):
        piece = " ".join(words[i:i + PIECE_WORDS])
        yield chunk({"content": piece if i == 0 else " " + piece})
    yield chunk({}, "stop", citations=citations_json(result), refused=result.refused, kind=result.kind,
                missing=result.missing)
    yield "data: [DONE]\n\n"

"""Serving the assistant to other programs: an OpenAI-compatible chat API and MCP tools, with API keys.

* ``keys``: who may call, and which collections each API key may use;
* ``openai``: ``/v1/models`` and ``/v1/chat/completions`` (answers keep their ``[n]`` markers and carry
  a ``citations`` array and ``refused``);
* ``mcp``: the MCP tools ``search``, ``ask`` and ``list_documents``, over streamable HTTP and stdio;
* ``server``: one ASGI app with the API, MCP and (for ``assistant serve``) the browser chat, run by uvicorn.
"""

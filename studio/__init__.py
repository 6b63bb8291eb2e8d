"""Websim Studio: one server process with several surfaces over the same turns and services.

The packages are layers, and each imports only from the layers below it:

    studio.cli        the `websim` command: the outermost shell. `websim serve` starts the
                      server; its other commands are a surface of their own, over the turns
    studio.server     the process, the composition of every route family, the edge in front
                      of them, and the operators' routes
    studio.page | studio.openai | studio.mcp
                      the surfaces: the Gradio page and its API, the OpenAI-compatible /v1,
                      the MCP tools' callers. None imports another
    studio.turns      the UI-neutral turns every surface shares: a chat turn, an image, a
                      call's limits, metrics and log line, the sentences for failures
    studio.services   the process's shared services: settings, the Websim client and its
                      guard, kept files, per-client limits, metrics, client identity
    websim_core       the Websim client, provider and emulator; it knows nothing of studio

tests/test_layers.py checks this with the import-linter contracts in pyproject.toml.
"""

"""The server: the process (`process`), the one application composing every route family
(`composition`), the edge every request passes (`edge`), the operators' routes (`health`), and
what Gradio's queue is made to do besides (`gradio_hardening`).

This package is the top of the web app's layers: it may import every surface, and none may
import it. Nothing is imported here, so that `process` sets Gradio's environment before Gradio
is first imported.
"""

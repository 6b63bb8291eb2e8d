"""The page's browser code: `.js` and `.css` files beside these modules, read once as the page
is built, so that editors, linters and `node --test` (tests/js/) see them as the files they are.

A `js=` listener takes the source of a function expression, which Gradio evaluates and calls
with the listener's input values; a page file that needs one of the server's constants is a
function of it, applied here (`applied`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent


@cache
def source(name: str) -> str:
    """The text of the browser file `name` beside this module."""
    return (HERE / name).read_text(encoding="utf-8").strip()


def stylesheet(*names: str) -> str:
    """The CSS files `names`, one after the other."""
    return "\n".join(source(name) for name in names) + "\n"


class Expression(str):
    """JavaScript source that `applied` passes as it is, evaluated in the browser."""


def applied(name: str, *arguments: object) -> str:
    """A JavaScript expression: the function expression in `name` applied to `arguments`, each
    a JSON value or an `Expression`."""
    written = (
        argument if isinstance(argument, Expression) else json.dumps(argument)
        for argument in arguments
    )
    return f"({source(name)})({', '.join(written)})"


def script(code: str) -> str:
    """`code` as a script element for the page's head."""
    return f"<script>\n{code}\n</script>\n"

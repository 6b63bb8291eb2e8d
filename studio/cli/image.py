"""`websim image`: generate an image and keep it as a file.

The image is downloaded with the same guarded fetcher the server uses (http(s) only, public
addresses only unless Websim itself is local, a size cap), so a URL in Websim's answer cannot
make the command read from the local network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from websim_core import ImageResponse, Progress, Settings, WebsimClient
from websim_core.image_fetch import FetchedImage, ImageFetcher
from websim_core.validation import validate_aspect_ratio, validate_model, validate_prompt

from ..services.shared import fetch_websim_image
from ..turns.download_names import image_stem
from .chat import notify


@dataclass(frozen=True)
class SavedImage:
    """An image written to disk, as `--json` prints it."""

    path: str
    url: str
    prompt: str
    aspect_ratio: str
    model: str
    content_type: str
    bytes: int


def check_request(prompt: str, aspect_ratio: str, model: str | None, output: Path | None) -> None:
    """Refuse, before anything is sent, what the call or the file writing would refuse later."""
    validate_prompt(prompt)
    validate_aspect_ratio(aspect_ratio)
    validate_model(model, "image")
    if output is not None and not output.is_dir() and not output.parent.is_dir():
        raise click.BadParameter(
            f"the folder {str(output.parent)!r} does not exist", param_hint="'-o' / '--output'"
        )


async def generate(
    settings: Settings, prompt: str, aspect_ratio: str, model: str | None
) -> tuple[ImageResponse, FetchedImage]:
    """Generate the image and download it, with progress told on stderr."""
    async with (
        WebsimClient(settings=settings) as client,
        ImageFetcher.for_base_url(settings.base_url, timeout=settings.timeout) as fetcher,
    ):
        response: ImageResponse | None = None
        async for item in client.generate_image_stream(
            prompt, aspect_ratio=aspect_ratio, model=model
        ):
            if isinstance(item, Progress):
                notify(item)
            else:
                response = item
        assert response is not None  # the stream ends with the response or raises
        return response, await fetch_websim_image(fetcher, response.url)


def save(response: ImageResponse, image: FetchedImage, output: Path | None) -> SavedImage:
    """Write the image to `output`: a file, or a folder for the default name (the current
    folder when None)."""
    if output is None or output.is_dir():
        stem = image_stem(response.prompt, response.aspect_ratio)
        path = write_new(output or Path(), stem, image)
    else:
        output.write_bytes(image.data)
        path = output
    return SavedImage(
        str(path),
        response.url,
        response.prompt,
        response.aspect_ratio,
        response.model,
        image.content_type,
        len(image.data),
    )


def write_new(folder: Path, stem: str, image: FetchedImage) -> Path:
    """Write `image` to a new file in `folder` named from `stem` and its type; an existing file
    is never overwritten: `-2`, `-3`, ... are added instead."""
    number = 1
    while True:
        suffix = "" if number == 1 else f"-{number}"
        path = folder / f"{stem}{suffix}{image.extension}"
        try:
            with path.open("xb") as file:
                file.write(image.data)
        except FileExistsError:
            number += 1
            continue
        return path

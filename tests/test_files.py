"""The server's one files folder: content-addressed, capped in size and age, removed at the end."""

from __future__ import annotations

import os
from pathlib import Path

from studio.services.files import FileStore


def test_the_same_content_is_kept_once_under_a_name_nobody_can_guess(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", max_bytes=10_000, max_age=60)
    first, again = store.keep(b"picture", ".png"), store.keep(b"picture", ".png")

    assert first == again and first.read_bytes() == b"picture"
    assert len(first.stem) == 32 and first.suffix == ".png"
    assert store.usage() == (1, 7)


def test_a_sweep_drops_old_files_then_the_oldest_until_under_the_cap(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", max_bytes=100_000, max_age=100)
    now = 1_000_000.0
    paths = [store.keep(bytes([number]) * 1000, ".bin") for number in range(4)]
    gradio_file = store.gradio_cache / "abc" / "upload.png"
    gradio_file.parent.mkdir(parents=True)
    gradio_file.write_bytes(b"x" * 400)
    for age, path in zip((500, 90, 80, 70, 10), [*paths, gradio_file], strict=True):
        os.utime(path, (now - age, now - age))

    store.max_bytes = 2_500
    kept = store.sweep(now=now)

    assert not paths[0].exists()  # past the age limit
    assert not paths[1].exists()  # the oldest left, over the cap
    assert paths[2].exists() and paths[3].exists() and gradio_file.exists()
    assert kept == (3, 2_400)


def test_a_file_under_two_names_counts_once_and_goes_with_both(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", max_bytes=100_000, max_age=100)
    now = 1_000_000.0
    image = store.keep(b"i" * 1000, ".png")
    download = image.with_suffix("") / "websim-a-lighthouse-16x9.png"
    download.parent.mkdir()
    os.link(image, download)
    newer = store.keep(b"n" * 1000, ".png")
    os.utime(image, (now - 50, now - 50))
    os.utime(newer, (now - 10, now - 10))

    assert store.usage() == (2, 2000)

    store.max_bytes = 1_500
    assert store.sweep(now=now) == (1, 1000)
    assert not image.exists() and not download.exists() and newer.exists()


def test_writing_past_the_cap_sweeps_at_once_rather_than_at_the_next_round(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "files", max_bytes=2_500, max_age=3600)
    for number in range(6):
        store.keep(bytes([number]) * 1000, ".bin")

    assert store.usage()[1] <= 2_500


async def test_remove_deletes_the_whole_folder(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", max_bytes=10_000, max_age=60)
    store.keep(b"picture", ".png")
    store.start_sweeping(interval=0.01)

    await store.remove()

    assert not store.root.exists()


def test_an_image_past_its_age_is_no_longer_kept_and_its_removal_is_remembered(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "files", max_bytes=100_000, max_age=100)
    old, fresh = store.keep(b"old" * 100, ".png"), store.keep(b"fresh" * 100, ".png")
    earlier = os.stat(fresh).st_mtime - 500
    os.utime(old, (earlier, earlier))

    assert store.kept(old.name) is None and store.removed(old.name)  # not served, though there
    assert store.kept(fresh.name) == fresh and not store.removed(fresh.name)
    store.sweep()
    assert not old.exists() and store.removed(old.name)
    assert store.kept("0" * 32 + ".png") is None and not store.removed("0" * 32 + ".png")


def test_an_image_kept_from_elsewhere_ages_from_when_it_was_first_kept(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", max_bytes=100_000, max_age=100)
    first_kept = os.stat(store.keep(b"other", ".bin")).st_mtime - 60

    path = store.keep(b"picture", ".png", kept_at=first_kept)

    assert os.stat(path).st_mtime == first_kept
    store.max_age = 50
    assert store.kept(path.name) is None

"""Importing TensorFlow quietly, hiding its log output, and turning its errors into one line."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from one_core.errors import ConversionError, InputError

_tf: Any = None


class CapturedOutput:
    """What TensorFlow wrote to stdout and stderr inside `quiet()` (after the block ends)."""

    text = ""


@contextlib.contextmanager
def quiet(verbose: bool = False) -> Iterator[CapturedOutput]:
    """Hide what TensorFlow prints while the block runs, from Python (print, logging, warnings)
    and from C++ (written straight to file descriptors 1 and 2). The text is kept for error
    messages. The capture file is anonymous: nothing is left on disk."""
    captured = CapturedOutput()
    if verbose:
        yield captured
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved: list[tuple[int, int]] = []
    py_out, py_err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryFile() as sink:
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(sink.fileno(), fd)
                except OSError:  # no such descriptor (a daemon, say): nothing to hide
                    pass
            with contextlib.redirect_stdout(py_out), contextlib.redirect_stderr(py_err):
                yield captured
        finally:
            for fd, copy in saved:
                with contextlib.suppress(OSError):
                    os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.text = (sink.read().decode("utf-8", "replace") + py_out.getvalue()
                             + py_err.getvalue())


def import_tf(verbose: bool = False) -> Any:
    """Import TensorFlow once, without its start-up chatter (unless `verbose`)."""
    global _tf
    if _tf is None:
        if not verbose:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            with quiet(verbose):
                import tensorflow as tf
        except ImportError as exc:
            raise InputError(
                f"the tf frontend needs TensorFlow ({exc}); install it with "
                "`pip install one-frontend-tf[cpu]` (or tensorflow yourself)"
            ) from None
        _tf = tf
    return _tf


def import_keras(verbose: bool = False) -> Any:
    import_tf(verbose)
    with quiet(verbose):
        import keras
    return keras


_LOC = re.compile(r"^\s*(loc\(.*?\)|<unknown>:\d+:)\s*")


def converter_message(exc: BaseException) -> str:
    """The useful part of a TensorFlow (converter) error, on one line."""
    text = str(exc)
    picked: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        m = re.search(r"(?:^|: )error: (.*)$", line)
        if m:
            msg = _LOC.sub("", m.group(1)).strip()
            if msg and not msg.startswith("failed while converting"):
                picked.append(msg)
        elif re.match(r"^(TF Select ops|Custom ops|Flex ops):", line):
            picked.append(line)
    if not picked:
        picked = [ln.strip() for ln in text.splitlines() if ln.strip()][:1] or [type(exc).__name__]
    unique = list(dict.fromkeys(picked))
    message = "; ".join(unique[:3])
    if len(unique) > 3:
        message += f" (and {len(unique) - 3} more)"
    return re.sub(r"\s+", " ", message)


def conversion_error(label: str, exc: BaseException, what: str = "the TensorFlow Lite converter failed") -> ConversionError:
    return ConversionError(f"{label}: {what}: {converter_message(exc)}")

"""Input/output at the edges of the pipeline: atomic writes, checked reads, schema validation.

Every output is written to a temporary file in the destination folder and then renamed over the
target (``os.replace`` is atomic on POSIX and Windows), so a crash never leaves a half-written file in
place of a good one. Every read names the file in its error, and every validator names the file and the
column that is wrong.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

log = logging.getLogger("asset_pricing")
_UMASK = os.umask(0)
os.umask(_UMASK)


class DataValidationError(ValueError):
    """Input data breaks a stage's schema; the message names the file (or table) and the column."""


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs) -> Path:
    """Write ``df`` to parquet atomically and log what was written."""
    target = Path(path)
    with atomic_path(target) as tmp:
        df.to_parquet(tmp, **kwargs)
    log.info("wrote %s (%d rows x %d columns)", target, len(df), df.shape[1])
    return target


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs) -> Path:
    """Write ``df`` to CSV atomically and log what was written."""
    target = Path(path)
    with atomic_path(target) as tmp:
        df.to_csv(tmp, **kwargs)
    log.info("wrote %s (%d rows)", target, len(df))
    return target


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a text file (HTML, JSON, Markdown) atomically."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("wrote %s", target)
    return target


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Read a parquet file; a missing or corrupt file raises an error that names it."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: file not found (run the stage that builds it, e.g. `doit`).")
    try:
        df = pd.read_parquet(source, columns=columns)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataValidationError(f"{source}: cannot be read as parquet ({type(exc).__name__}: {exc}).") from exc
    log.info("read %s (%d rows)", source, len(df))
    return df


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a user's CSV or parquet file by its suffix; errors name the file."""
    source = Path(path)
    if source.suffix == ".parquet":
        return read_parquet(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: file not found.")
    try:
        df = pd.read_csv(source)
    except Exception as exc:
        raise DataValidationError(f"{source}: cannot be read as CSV ({type(exc).__name__}: {exc}).") from exc
    log.info("read %s (%d rows)", source, len(df))
    return df


def require_columns(df: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise when any of ``columns`` is missing from ``df`` (``name`` is the file or table)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(f"{name}: missing column(s) {', '.join(map(str, missing))}; found {list(df.columns)}.")


def validate_date_index(index: pd.Index, name: str) -> None:
    """A sorted, unique, tz-naive DatetimeIndex, or an error naming the table and the first bad date."""
    if not isinstance(index, pd.DatetimeIndex):
        raise DataValidationError(f"{name}: index must be dates, found {type(index).__name__} ({index.dtype}).")
    if index.tz is not None:
        raise DataValidationError(f"{name}: dates must be tz-naive, found time zone {index.tz}.")
    if index.hasnans:
        raise DataValidationError(f"{name}: index has missing dates (NaT).")
    duplicated = index[index.duplicated()]
    if len(duplicated):
        raise DataValidationError(f"{name}: duplicate date(s) {', '.join(f'{d:%Y-%m-%d}' for d in duplicated[:3])}.")
    if not index.is_monotonic_increasing:
        position = int(np.argmax(np.diff(index.asi8) < 0)) + 1
        raise DataValidationError(f"{name}: dates are not sorted (first out of order: {index[position]:%Y-%m-%d}).")


def validate_numeric_frame(df: pd.DataFrame, name: str, *, positive: bool = False) -> None:
    """Float columns without ±inf (and strictly positive where ``positive``); errors name the column."""
    for column in df.columns:
        values = df[column]
        if not pd.api.types.is_numeric_dtype(values):
            raise DataValidationError(f"{name}: column {column!r} must be numeric, found {values.dtype}.")
        array = values.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(array).any():
            raise DataValidationError(f"{name}: column {column!r} has infinite values.")
        if positive and (array <= 0).any():
            bad = values.index[array <= 0][0]
            raise DataValidationError(
                f"{name}: column {column!r} has a zero or negative price ({array[array <= 0][0]:g} on {bad:%Y-%m-%d})."
            )
        if values.notna().sum() == 0:
            raise DataValidationError(f"{name}: column {column!r} has no data.")


def validate_prices(prices: pd.DataFrame, name: str) -> None:
    """Wide daily prices: date index as :func:`validate_date_index`, positive finite numeric columns."""
    if prices.empty:
        raise DataValidationError(f"{name}: no rows.")
    validate_date_index(prices.index, name)
    validate_numeric_frame(prices, name, positive=True)

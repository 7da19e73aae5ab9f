"""A chart's ``values.schema.json`` may not make helm read anything outside the chart.

helm validates values against the schema of the chart and of each subchart, and follows the
schema's references: ``"$ref": "http://127.0.0.1:8080/x"`` made it fetch a URL and
``"$ref": "file:///etc/passwd"`` read a file of the host. The network namespace the tool runs in
(see :mod:`tether.render.sandbox`) stops the first; this check, done before helm starts, stops
both, also where no namespace can be made. It reads every ``values.schema.json`` of the chart
folder and inside the chart archives (``.tgz``) of its ``charts/`` folders, and refuses:

* a ``$ref``, ``$dynamicRef`` or ``$recursiveRef`` with a scheme (``http:``, ``file:`` ...), an
  absolute path or a ``..`` segment (also percent-encoded);
* a ``$schema`` other than the JSON Schema drafts helm knows without fetching them;
* an ``$id`` (or draft-4 ``id``) that is a ``file:`` URI or an absolute path, and any reference
  to another file in a schema whose ``$id`` has a scheme (it would be resolved against it).

References inside the file (``#/definitions/x``) and to files beside it stay allowed.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tether.render.errors import RenderLimitError, UnsafeRepositoryError
from tether.render.manifests import load_json
from tether.render.tree import Workspace, walk

SCHEMA_FILE = "values.schema.json"
_REFERENCE_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
_ID_KEYS = ("$id", "id")
# keywords whose values are data, not schemas: a "$ref" key in an example is just data
_DATA_KEYWORDS = frozenset({"default", "examples", "example", "enum", "const"})
_META_SCHEMAS = frozenset(
    {
        "http://json-schema.org/schema",
        "http://json-schema.org/draft-03/schema",
        "http://json-schema.org/draft-04/schema",
        "http://json-schema.org/draft-06/schema",
        "http://json-schema.org/draft-07/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    }
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_MAX_ARCHIVE_NESTING = 3


def _leaves_chart(reference: str) -> bool:
    target = unquote(reference.split("#", 1)[0])
    if _SCHEME.match(target) or target.startswith(("/", "\\")):
        return True
    return ".." in re.split(r"[\\/]", target)


def _strings(schema: Any, keys: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(key, value) of every string under one of ``keys`` in schema positions, iteratively."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key in keys and isinstance(value, str):
                yield key, value
            elif key not in _DATA_KEYWORDS:
                stack.append(value)


def check_schema(schema: Any, file: str) -> None:
    """Refuse the references of one parsed schema that could reach outside the chart."""
    remote_base = False
    for key, value in _strings(schema, _ID_KEYS):
        schemed = bool(_SCHEME.match(value))
        if value.lower().startswith("file:") or (not schemed and _leaves_chart(value)):
            raise UnsafeRepositoryError(f"{key} {value!r} points outside the chart", file=file)
        # relative references in this schema would resolve against that base
        remote_base = remote_base or schemed
    for _, value in _strings(schema, ("$schema",)):
        if value.rstrip("#") not in _META_SCHEMAS:
            raise UnsafeRepositoryError(
                f"$schema {value!r} is not a JSON Schema draft helm knows: Tether lets helm "
                "fetch nothing",
                file=file,
            )
    for key, value in _strings(schema, _REFERENCE_KEYS):
        if _leaves_chart(value) or (remote_base and not value.startswith("#")):
            raise UnsafeRepositoryError(
                f"{key} {value!r} leaves the chart: a values schema may only refer to itself "
                "and to files beside it",
                file=file,
            )


class _Budget:
    """Bytes left to decompress from chart archives in this render."""

    def __init__(self, total: int) -> None:
        self.left = total


class _Bounded(io.RawIOBase):
    """A decompressed stream that stops with a limit error past the render's budget."""

    def __init__(self, raw: io.BufferedIOBase, budget: _Budget, file: str) -> None:
        self.raw = raw
        self.budget = budget
        self.file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(min(len(buffer), 1 << 16))
        self.budget.left -= len(data)
        if self.budget.left < 0:
            raise RenderLimitError(
                "chart archives decompress to more than the tree size limit", file=self.file
            )
        buffer[: len(data)] = data
        return len(data)


def _archive_schemas(
    data: bytes, file: str, ws: Workspace, budget: _Budget, nesting: int
) -> Iterator[tuple[bytes, str]]:
    """(schema bytes, name) of every values schema in a chart archive, nested ones included."""
    limit = ws.limits.max_file_bytes
    stream = _Bounded(gzip.GzipFile(fileobj=io.BytesIO(data)), budget, file)
    try:
        with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as archive:
            for member in archive:
                name = member.name
                wanted = Path(name).name == SCHEMA_FILE or (
                    name.endswith((".tgz", ".tar.gz")) and nesting < _MAX_ARCHIVE_NESTING
                )
                if not member.isfile() or not wanted:
                    continue
                if member.size > limit:
                    raise RenderLimitError(
                        f"{name} in the archive is larger than {limit} bytes", file=file
                    )
                extracted = archive.extractfile(member)
                content = extracted.read() if extracted is not None else b""
                if name.endswith(SCHEMA_FILE):
                    yield content, f"{file}:{name}"
                else:
                    yield from _archive_schemas(content, f"{file}:{name}", ws, budget, nesting + 1)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise UnsafeRepositoryError(f"chart archive cannot be read: {exc}", file=file) from None


def _chart_files(chart_dir: Path) -> Iterator[Path]:
    """Every file under ``chart_dir``, through symbolic links (which stay inside the copy) as
    helm follows them, each folder once."""
    for folder, _, filenames in walk(chart_dir, follow_links=True):
        for name in filenames:
            yield Path(folder) / name


def check_values_schemas(ws: Workspace, chart_dir: Path) -> None:
    """Check every values schema helm would load for the chart in ``chart_dir`` (of the copy)."""
    budget = _Budget(ws.limits.max_tree_bytes)
    for path in _chart_files(chart_dir):
        if not path.is_file():
            continue
        file = ws.relative(path)
        if path.name == SCHEMA_FILE:
            check_schema(load_json(ws.read(path), file, ws.limits), file)
        elif path.parent.name == "charts" and path.name.endswith((".tgz", ".tar.gz")):
            for content, name in _archive_schemas(ws.read(path), file, ws, budget, 1):
                check_schema(load_json(content, name, ws.limits), name)

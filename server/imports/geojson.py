"""Reading a GeoJSON FeatureCollection one feature at a time, knowing the line each feature starts on.

json.load would give the features but not their lines, and a validation report is only useful when it says
where to look. GIS tools (QGIS, ogr2ogr) write one feature per line, so the line is the feature's own.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from server.i18n import N_

_decoder = json.JSONDecoder()
_SPACE = " \t\n\r"


class GeoJsonUnreadable(ValueError):
    """The file is not a FeatureCollection we can read; `message` is a msgid, `line` where it went wrong."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


@dataclass
class FeatureCollection:
    text: str
    members: dict[str, Any]        # everything but the features: type, name, crs…
    offsets: list[tuple[int, int]]  # (line, offset) of each feature

    def __len__(self) -> int:
        return len(self.offsets)

    def features(self) -> Iterator[tuple[int, Any]]:
        for line, offset in self.offsets:
            yield line, _decoder.raw_decode(self.text, offset)[0]


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line, self._counted_to = text, 0, 1, 0

    def skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        self.pos = pos

    def line_here(self) -> int:
        self.line += self.text.count("\n", self._counted_to, self.pos)
        self._counted_to = self.pos
        return self.line

    def expect(self, char: str) -> None:
        self.skip_space()
        if not self.text.startswith(char, self.pos):
            raise GeoJsonUnreadable(N_("The file is not valid GeoJSON: something is missing or extra here."),
                                    self.line_here())
        self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos:self.pos + 1]

    def value(self) -> Any:
        self.skip_space()
        try:
            value, self.pos = _decoder.raw_decode(self.text, self.pos)
        except json.JSONDecodeError as error:
            self.pos = error.pos
            raise GeoJsonUnreadable(N_("The file is not valid GeoJSON: something is missing or extra here."),
                                    self.line_here()) from None
        return value


def read_feature_collection(raw: bytes) -> FeatureCollection:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise GeoJsonUnreadable(N_("The file is not UTF-8 text. Export it again as GeoJSON (UTF-8)."), line) from None
    cursor = _Cursor(text)
    if cursor.peek() != "{":
        raise GeoJsonUnreadable(N_("This is not a GeoJSON file: it should start with {."), 1)
    cursor.expect("{")
    members: dict[str, Any] = {}
    offsets: list[tuple[int, int]] = []
    if cursor.peek() == "}":
        cursor.pos += 1
    else:
        while True:
            key = cursor.value()
            cursor.expect(":")
            if key == "features":
                cursor.expect("[")
                if cursor.peek() == "]":
                    cursor.pos += 1
                else:
                    while True:
                        cursor.skip_space()
                        start = cursor.pos
                        offsets.append((cursor.line_here(), start))
                        cursor.value()
                        if cursor.peek() == ",":
                            cursor.pos += 1
                            continue
                        cursor.expect("]")
                        break
                members["features"] = True
            else:
                members[str(key)] = cursor.value()
            if cursor.peek() == ",":
                cursor.pos += 1
                continue
            cursor.expect("}")
            break
    cursor.skip_space()
    if cursor.pos != len(text):
        raise GeoJsonUnreadable(N_("The file is not valid GeoJSON: something is missing or extra here."),
                                cursor.line_here())
    if members.get("type") != "FeatureCollection" or "features" not in members:
        raise GeoJsonUnreadable(N_("This GeoJSON is not a FeatureCollection: export the layer as a whole."), 1)
    members.pop("features")
    return FeatureCollection(text, members, offsets)

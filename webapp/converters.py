"""URL converters. Every id in a route is a PostgreSQL `bigint`: Flask's `<int:…>` takes
any size, and an id past 2^63 − 1 reached the database and came back as a 500. Out of
range is simply "no such page" (404), decided before any query runs."""
from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

BIGINT_MAX = 2**63 - 1


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive id that fits a `bigint` (1 … 2^63 − 1), else the rule
    does not match and the request is a 404."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, fixed_digits=0, min=1, max=BIGINT_MAX)


def init_app(app) -> None:  # noqa: ANN001 - Flask, kept untyped to avoid an import cycle
    # Before any blueprint registers a rule that names the converter.
    app.url_map.converters["id"] = IdConverter

"""The views of the project's Data Docs site: GX's own, with their compiled templates shared.

GX makes a new site builder, and with it new views with a new Jinja environment, for every
``UpdateDataDocsAction``, so each checkpoint parsed and compiled the site's ~50 templates
again: more than a third of a checkpoint's time (docs/BENCHMARKS.md). These views give their
environment one bytecode cache for the process, so a template is compiled once; the pages
are GX's, rendered by GX's code. ``great_expectations.yml`` names them as the ``view`` of
the site's index and sections, GX's documented way to change a site's views.
"""

from __future__ import annotations

from types import CodeType
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class _Compiled(BytecodeCache):
    """Compiled templates in memory, by template; one is reused while its source is the
    one it was compiled from (the bucket's checksum)."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        checksum, code = self._code.get(bucket.key, (None, None))
        if checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key] = (bucket.checksum, bucket.code)


COMPILED = _Compiled()


class _SharedTemplates:
    """A GX Jinja view whose environment uses :data:`COMPILED`."""

    env: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED


class PageView(_SharedTemplates, DefaultJinjaPageView):
    """GX's page view (suite and validation pages) on the shared compiled templates."""


class IndexPageView(_SharedTemplates, DefaultJinjaIndexPageView):
    """GX's index page view on the shared compiled templates."""


def compile_templates() -> None:
    """Compile every template of the site now, so the first checkpoint finds them compiled
    (:func:`~advertisex.quality.project.warm_up` does, beside the first jobs)."""
    env = PageView().env
    for name in env.list_templates():
        env.get_template(name)

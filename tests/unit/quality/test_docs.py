"""The Data Docs views compile each template once per process, and again only when its
source changes."""

from __future__ import annotations

from jinja2 import DictLoader, Environment

from advertisex.quality import docs


def _compiles(env: Environment) -> list[str]:
    """The names ``env`` compiles from now on."""
    seen: list[str] = []
    compile_ = env.compile

    def spy(source, name=None, filename=None, *args, **kwargs):
        seen.append(name)
        return compile_(source, name, filename, *args, **kwargs)

    env.compile = spy
    return seen


def test_a_second_view_reuses_the_compiled_templates():
    first = docs.IndexPageView()
    first_compiles = _compiles(first.env)
    first.env.get_template("index_page.j2")
    second = docs.PageView()  # another view class, as GX makes for the site's sections
    second_compiles = _compiles(second.env)
    page = second.env.get_template("index_page.j2")

    assert second_compiles == []
    assert first_compiles in ([], ["index_page.j2"])  # compiled here, or by an earlier test's view
    assert page.render(sections=[], text="", page_title="t", ge_version="1", static_images_dir="",
                       cta_footer=None, show_how_to_buttons=False)


def test_a_changed_template_is_compiled_again():
    cache = docs._Compiled()
    old = Environment(loader=DictLoader({"t.j2": "old {{ x }}"}), bytecode_cache=cache)
    new = Environment(loader=DictLoader({"t.j2": "new {{ x }}"}), bytecode_cache=cache)
    again = Environment(loader=DictLoader({"t.j2": "new {{ x }}"}), bytecode_cache=cache)
    again_compiles = _compiles(again)

    assert old.get_template("t.j2").render(x=1) == "old 1"
    assert new.get_template("t.j2").render(x=2) == "new 2"
    assert again.get_template("t.j2").render(x=3) == "new 3"
    assert again_compiles == []

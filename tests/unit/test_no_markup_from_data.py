"""Our scripts build the page from data with DOM nodes and textContent, never with strings parsed as HTML
(Leaflet's bindTooltip/bindPopup parse strings too). Vendored libraries are not ours to check here."""
import re

import pytest

from server.static_files import STATIC

SCRIPTS = sorted((STATIC / "js").glob("*.js"))
PARSES_HTML = re.compile(r"\.(innerHTML|outerHTML)\s*=(?!=)|insertAdjacentHTML|document\.write|\.html\(")
LEAFLET_MARKUP = re.compile(r"\.(bindTooltip|bindPopup|setTooltipContent|setPopupContent)\((\w+)")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_script_hands_a_string_to_an_html_parser(script):
    source = script.read_text()
    assert not PARSES_HTML.findall(source)
    for _, argument in LEAFLET_MARKUP.findall(source):
        # Whatever is shown must be a node made here, its text set with textContent.
        assert re.search(rf"{argument}\s*=\s*document\.createElement\(", source), f"{script.name}: {argument}"
        assert re.search(rf"{argument}\.textContent\s*=", source), f"{script.name}: {argument}"
    assert not re.findall(r"\.(bindTooltip|bindPopup)\(\s*[\"'`]", source)

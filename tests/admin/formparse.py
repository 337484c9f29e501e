"""Read an HTML form the way a browser submits it (successful controls only), for form-level tests."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._option: list[str] | None = None
        self._option_value: str | None = None
        self._option_selected = False
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "input" and "name" in a:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.pairs.append((a["name"], a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select is not None:
            self._option, self._option_value = [], a.get("value")
            self._option_selected = "selected" in a
        elif tag == "textarea" and "name" in a:
            self._textarea, self._text = a["name"], []

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option.append(data)
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._option is not None:
            value = self._option_value if self._option_value is not None else "".join(self._option).strip()
            self._options.append((value, self._option_selected))
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = [v for v, s in self._options if s] or [v for v, _ in self._options[:1]]
            self.pairs.extend((self._select, v) for v in chosen[:1])
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            self.pairs.append((self._textarea, text[1:] if text.startswith("\n") else text))
            self._textarea = None


def form_fields(page: str, start: str = '<form method="post" novalidate') -> list[tuple[str, str]]:
    """The (name, value) pairs the page's main form would submit (without pressing a named button)."""
    begin = page.index(start)
    parser = _FormParser()
    parser.feed(page[begin : page.index("</form>", begin)])
    return parser.pairs

"""Chromium through Playwright against pytest-django's live server.

Debian's Chromium at /usr/bin/chromium (`.ci/run` installs it); Playwright cannot
download browsers here. Screenshots go to var/screenshots/ (git-ignored)."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls
# from a thread with a running loop unless told this is deliberate (tests only).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# What a reader using assistive technology would be blocked by (axe-core's impacts).
AXE_BLOCKING = ("serious", "critical")


def axe_blocking(page) -> list[str]:
    """axe-core (bundled by axe-playwright-python) on the page as it is now: one line per
    serious or critical violation, with the first nodes it concerns. Empty is a pass."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:3])
        + (f" (+{len(v['nodes']) - 3} more)" if len(v["nodes"]) > 3 else "")
        for v in results.response["violations"]
        if v["impact"] in AXE_BLOCKING
    ]


def page_width(page) -> int:
    """How wide the page is laid out (document.documentElement.scrollWidth), read
    after the next two frames: a viewport just changed by set_viewport_size is laid
    out again at the next frame, and a clean-clone CI run read a 390-px codes page as
    394 px right after the resize (it measures 390, alone and in four reruns)."""
    frames_drawn(page)
    return page.evaluate("document.documentElement.scrollWidth")


def frames_drawn(page) -> None:
    """Wait for the next two frames, once a change of the viewport is painted; at most
    a second. Playwright's own script world, so that it also works on a page whose
    scripts are off (the outbox's email alone: CSP sandbox), where a promise of the
    page's own never settled and held a test until its timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame("
                               "() => done(true))))", timeout=1000)
    except PlaywrightTimeout:
        pass


def picture_width(img) -> int:
    """The width of the picture an <img> locator shows (naturalWidth), once it has
    loaded and decoded. A lazy, async-decoded thumbnail is visible (its box is laid
    out) before its picture arrives: a clean-clone CI run read 0 right after
    to_be_visible. decode() fails the test if the picture is broken."""
    img.scroll_into_view_if_needed()
    return img.evaluate("img => img.decode().then(() => img.naturalWidth)")


def page_overflow(page) -> int:
    """How many pixels the page is wider than its window (page_width: after the next
    two frames); above 0, a reader scrolls sideways."""
    return page_width(page) - page.evaluate("window.innerWidth")


def axe_blocking_at_widths(page) -> dict[str, list[str]]:
    """axe_blocking at desktop and phone width, each in the light and the dark colour
    scheme ("phone dark": [...]); the page is left at its size, and light."""
    original, found = page.viewport_size, {}
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            found[f"{label} {scheme}"] = axe_blocking(page)
    page.emulate_media(color_scheme="light")  # the context's own default
    page.set_viewport_size(original)
    return found


def admin_sign_in(page, live_server, username: str, password: str) -> None:
    """Sign in to the admin as an editor does: the password form, then the one-time
    code page (config/two_factor.py), here with a backup code made for the purpose."""
    from django.contrib.auth.models import User

    from tests.factories import sign_in_code

    code = sign_in_code(User.objects.get(username=username))  # the app set up, before the password
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# The hosts a browser test may load from: the live server and `make run` on this
# machine. Anything else (a CDN, a font service, an analytics script) is refused.
LOCAL_HOSTS = {"localhost", "127.0.0.1", "testserver"}


def _leaves_the_machine(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname not in LOCAL_HOSTS


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    # No test depends on the network: a request that would leave this machine is
    # aborted and fails the test (a page's own routes come first).
    external: list[str] = []

    def refuse(route):
        external.append(route.request.url)
        route.abort()

    context.route(_leaves_the_machine, refuse)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    # Console errors, CSP violations among them ("Refused to ... Content Security Policy").
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.console_errors = console
    yield page
    context.close()
    assert external == [], f"the page asked the network for {external}"


@pytest.fixture
def screenshot():
    """screenshot(page, "name") saves name-desktop.png and name-phone.png."""
    out = Path(settings.SCREENSHOT_DIR)
    out.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> list[Path]:
        paths = []
        original = page.viewport_size
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            # The window as tall as the page: a full-page capture paints a sandboxed
            # frame (the admin's email preview, the outbox) blank when it lies below
            # the window (microsoft/playwright#40583), which showed editors' pages
            # with empty previews that were full in the browser.
            frames_drawn(page)
            height = page.evaluate("document.documentElement.scrollHeight")
            page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
            frames_drawn(page)
            path = out / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        page.set_viewport_size(original)
        return paths

    return take


def png(width: int = 320, height: int = 180, rgb: tuple[int, int, int] = (255, 157, 0)) -> bytes:
    """A plain PNG: what a thumbnail CDN answers in the browser tests (no internet)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


@pytest.fixture
def thumbnail():
    """thumbnail(n): the n-th paper's picture URL, as Hugging Face's CDN would answer
    it but without the network: a data: URL (the site's CSP allows them), so it also
    loads in the sandboxed frames of the admin's digest preview and the outbox, whose
    requests Playwright's routes do not see."""
    import base64

    return lambda n: "data:image/png;base64," + base64.b64encode(png(64 + n, 36)).decode()


# Drawn in the element's font on a canvas, a character with no glyph in any font on
# the machine comes out as the font's "missing glyph" box, the same as an unassigned
# code point (U+0378): a page that uses one shows the visitor a box (tofu).
_MISSING_GLYPHS_JS = """el => {
  const style = getComputedStyle(el);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 96;
  const ctx = canvas.getContext('2d');
  ctx.font = `${style.fontSize} ${style.fontFamily}`;
  const draw = ch => {
    ctx.clearRect(0, 0, 96, 96);
    ctx.fillText(ch, 8, 72);
    return ctx.getImageData(0, 0, 96, 96).data.join(',');
  };
  const box = draw('\\u0378');
  return [...el.textContent.trim()].filter(ch => ch.trim() && !/[\\uFE0E\\uFE0F]/.test(ch) && draw(ch) === box);
}"""


def missing_glyphs(locator) -> list[str]:
    """The characters of an element's text that this browser can only draw as a box."""
    return locator.evaluate(_MISSING_GLYPHS_JS)

"""The dashboard answers only the host names it serves (no DNS rebinding), and every response
forbids framing and any script but its own (Content-Security-Policy with a nonce per response)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from himo.ui.app import create_app
from himo.ui.server import allowed_hosts
from tests.ui.conftest import LOOPBACK, free_port

REFUSED_HINT = ("open it by the address it serves (http://127.0.0.1:PORT/ on this machine), or start "
                "`himo ui` with --allowed-host NAME")


def refused(host: str) -> dict[str, str]:
    return {"error": f"Host {host!r} is not a name this dashboard answers to", "hint": REFUSED_HINT}


@pytest.fixture
def served_for(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """The app as `himo ui` builds it for 127.0.0.1:8765."""
    with TestClient(create_app(app.state.dashboard.store, app.state.dashboard.repo,
                               hosts=allowed_hosts("127.0.0.1", 8765)), base_url=LOOPBACK) as client:
        yield client


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST:8765"])
def test_loopback_names_with_the_port_are_answered(served_for: TestClient, host: str) -> None:
    assert served_for.get("/api/runs", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example:8765", "attacker.example", "127.0.0.1:9999",
                                  "127.0.0.1.attacker.example:8765", "", "localhost:abc"])
def test_any_other_host_is_refused_before_any_route(served_for: TestClient, host: str) -> None:
    for path in ("/api/runs", "/runs", "/static/himo.js", "/api/docs"):
        response = served_for.get(path, headers={"host": host, "accept": "application/json"})
        assert (response.status_code, response.json()) == (400, refused(host))


def test_default_app_answers_loopback_names_on_any_port(client: TestClient) -> None:
    assert client.get("/api/runs", headers={"host": "localhost:1234"}).status_code == 200
    assert client.get("/api/runs", headers={"host": "testserver"}).json() == refused("testserver")


def test_allowed_hosts_follow_host_and_allowed_host() -> None:
    assert allowed_hosts("127.0.0.1", 8765) == ["127.0.0.1:8765", "localhost:8765", "[::1]:8765"]
    assert allowed_hosts("192.168.1.5", 80, ("dash.example",)) == [
        "127.0.0.1:80", "localhost:80", "[::1]:80", "192.168.1.5:80", "dash.example"]
    assert allowed_hosts("::1", 8765)[-1] == "[::1]:8765" and len(allowed_hosts("::1", 8765)) == 3
    everywhere = allowed_hosts("0.0.0.0", 8765)
    assert f"{socket.gethostname().lower()}:8765" in everywhere


def test_an_allowed_host_without_port_and_the_wildcard(app) -> None:  # type: ignore[no-untyped-def]
    dashboard = app.state.dashboard
    named = TestClient(create_app(dashboard.store, dashboard.repo, hosts=["dash.example"]))
    assert named.get("/api/runs", headers={"host": "dash.example:443"}).status_code == 200
    assert named.get("/api/runs", headers={"host": "127.0.0.1:8765"}).status_code == 400
    anything = TestClient(create_app(dashboard.store, dashboard.repo, hosts=["*"]))
    assert anything.get("/api/runs", headers={"host": "whatever.example"}).status_code == 200


def test_every_response_forbids_framing_and_foreign_scripts(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    locked = TestClient(create_app(app.state.dashboard.store, app.state.dashboard.repo, token="t" * 16),
                        base_url=LOOPBACK)
    responses = [client.get(p) for p in ("/runs", "/api/runs", "/static/himo.js", "/api/docs", "/pipeline",
                                         "/no-such-page", "/%2e%2e/x")]
    responses += [locked.get("/runs"), client.get("/runs", headers={"host": "evil.example"})]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 200, 404, 400, 401, 400]
    nonces = set()
    for response in responses:
        policy = response.headers["content-security-policy"]
        nonce = re.fullmatch(
            r"default-src 'self'; script-src 'self' 'nonce-([\w-]+)'; style-src 'self' 'unsafe-inline'; "
            r"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            r"form-action 'self'; frame-ancestors 'none'", policy)
        assert nonce, policy
        nonces.add(nonce[1])
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert len(nonces) == len(responses)  # a new nonce for every response


def test_inline_scripts_carry_their_response_nonce(client: TestClient) -> None:
    for path in ("/pipeline", "/api/docs"):
        response = client.get(path)
        nonce = re.search(r"'nonce-([\w-]+)'", response.headers["content-security-policy"])[1]
        inline = re.findall(r"<script( [^>]*)?>(?!</script>)", response.text)
        assert inline, path
        for attributes in inline:
            assert f'nonce="{nonce}"' in attributes or 'src="/static/' in attributes or \
                'type="application/json"' in attributes, (path, attributes)


def test_a_rebound_name_in_a_real_browser_is_refused(app, browser, chromium: str) -> None:  # type: ignore[no-untyped-def]
    """Chromium resolving attacker.test to 127.0.0.1 (what DNS rebinding achieves) gets the refusal,
    while the same server by its own address shows the dashboard, its scripts running under the CSP."""
    import uvicorn

    port = free_port()
    dashboard = app.state.dashboard
    server = uvicorn.Server(uvicorn.Config(
        create_app(dashboard.store, dashboard.repo, hosts=allowed_hosts("127.0.0.1", port)),
        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    errors: list[str] = []
    try:
        # A second Chromium of the session's Playwright, with its own name resolution
        rebinding = browser.browser_type.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--host-resolver-rules=MAP attacker.test 127.0.0.1"])
        try:
            page = rebinding.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            # The refusals (of the page, then of its favicon, whenever Chromium asks) are logged to
            # the console: kept out by their URL (clearing the list after the load raced with them).
            page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                    and not m.location.get("url", "").startswith("http://attacker.test") else None)
            rebound = page.goto(f"http://attacker.test:{port}/api/runs")
            assert rebound is not None and rebound.status == 400
            assert "is not a name this dashboard answers to" in page.content()
            page.goto(f"http://127.0.0.1:{port}/pipeline")
            page.wait_for_selector("#dag canvas")  # cytoscape drew it: the nonce'd start-up ran
            page.goto(f"http://127.0.0.1:{port}/api/docs")
            page.wait_for_selector(".swagger-ui .info .title")  # Swagger UI started under the CSP
        finally:
            rebinding.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert errors == []

"""401 and 403 come before 422 (and before 400 for a body that is not JSON): a person without the role learns
nothing about what a route would accept, and a dock vendor's generated client gets the answer that
matters first. Every SAR and disclosure route is tried with a malformed body (not JSON, JSON of the wrong
shape) and malformed queries, as a person holding none of its roles and with no token at all.

Excepted: the dock's upload routes (``/v1/uploads…``, the ingest tag) are not SAR or disclosure routes and
read their body as a raw stream that no validator sees; ``/v1/shared/{token}`` takes no login (the token is
the capability)."""

from __future__ import annotations

import re

import pytest

TAGS = {"subject access", "disclosure"}
PUBLIC = {"/v1/shared/{token}", "/v1/shared/{token}/receipt"}  # the token is the credential
BAD_QUERY = {"limit": "0", "cursor": "%%%", "status": "nope", "overdue": "maybe"}


def _routes(app) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, ops in app.openapi()["paths"].items() if path not in PUBLIC
            for method, op in ops.items() if TAGS & set(op.get("tags", []))]


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nope_1", path)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)  # the order is the app's, not the storage's
async def test_no_role_is_403_and_no_token_is_401_before_any_validation(stack):
    routes = _routes(stack.app)
    assert len(routes) >= 30, routes
    nobody = stack.auth("pc-7", "officer")  # holds none of these routes' roles
    wrong = []
    for method, path in routes:
        url = _filled(path)
        attempts = [dict(content=b"{not json", headers={"Content-Type": "application/json"}),
                    dict(json=["not", "an", "object"]), dict(json={"unexpected": 1}, params=BAD_QUERY),
                    dict(params=BAD_QUERY)]
        for kwargs in attempts:
            headers = kwargs.pop("headers", {})
            for who, expected in ((nobody, 403), ({}, 401)):
                r = await stack.client.request(method, url, headers={**who, **headers}, **kwargs)
                if r.status_code != expected or r.headers["content-type"] != "application/problem+json":
                    wrong.append((method, path, kwargs, expected, r.status_code, r.text[:120]))
            kwargs["headers"] = headers
    assert wrong == [], wrong


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_with_the_role_the_same_requests_are_still_refused_as_bad_input(stack):
    """The guards change only which answer comes first: a handler's malformed request is still 400/422."""
    handler = stack.auth("sar-1", "sar_handler")
    r = await stack.client.post("/v1/sars", content=b"{not json", headers={**handler, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json"), r.text
    r = await stack.client.post("/v1/sars", json={"unexpected": 1}, headers=handler)
    assert r.status_code == 422, r.text
    r = await stack.client.get("/v1/sars", params={"limit": "0"}, headers=handler)
    assert r.status_code == 422, r.text
    staff = stack.auth("dc-1", "disclosure")
    r = await stack.client.post("/v1/cases", content=b"{not json", headers={**staff, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text

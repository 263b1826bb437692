"""Schemathesis hooks: give schema-valid (positive) requests a real key where a dialect takes
credentials in the body (Velt, Memoram), so their success paths are conformance-tested too.
Negative cases are left as generated."""
import os

import schemathesis
from schemathesis.generation.modes import GenerationMode

KEY_ID = os.environ["KEYMINT_CONFORMANCE_KEY_ID"]
KEY = os.environ["KEYMINT_CONFORMANCE_KEY"]


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not _positive(case) or not isinstance(body, dict):
        return
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("apiKey"), str):
        data["apiKey"], data["authToken"] = KEY_ID, KEY
    elif isinstance(body.get("api_key"), str):
        body["api_key"] = KEY

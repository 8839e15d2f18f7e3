"""Check a request against Chatwoot's own OpenAPI 3.1 document.

`SwaggerValidator().check(method, path, body)` returns a list of human-readable violations
(empty when the request matches): the path must match one of the document's path templates
with that method, integer path parameters must be integers, and a JSON body must validate
against the operation's requestBody schema (Draft 2020-12, `$ref`s resolved in the document).

Strict mode (the default) also flags body properties the schema does not list: Chatwoot's
Rails controllers drop unpermitted parameters silently, so a misspelt key would "work" against
the real server and do nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "chatwoot-swagger.json"
METHODS = ("get", "post", "put", "patch", "delete")


def default_spec_path() -> Path:
    """Chatwoot's swagger.json, kept under tests/fixtures (its origin: tests/fixtures/README.md)."""
    return SPEC_PATH


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str  # "/api/v1/accounts/{account_id}/conversations/{conversation_id}/messages"
    operation_id: str
    params: dict[str, str]  # path parameter name -> value from the matched path
    security: tuple[str, ...]  # scheme names: "userApiKey", "agentBotApiKey", ...
    body_schema: dict[str, Any] | None = field(default=None, repr=False)
    body_required: bool = False


class SwaggerValidator:
    def __init__(self, spec_path: Path | str | None = None, *, strict: bool = True):
        self.spec_path = Path(spec_path) if spec_path else default_spec_path()
        self.doc = _load(str(self.spec_path))
        self.strict = strict
        self._routes = self._compile()
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}

    # -- matching --------------------------------------------------------------------
    def _compile(self) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
        routes = []
        for template, item in self.doc["paths"].items():
            regex = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "/?$"
            routes.append((re.compile(regex), template, item))
        # Literal segments beat parameters: `/conversations/meta` must not match
        # `/conversations/{conversation_id}`.
        routes.sort(key=lambda r: (r[1].count("{"), -len(r[1])))
        return routes

    def match(self, method: str, path: str) -> tuple[Operation | None, list[str]]:
        """The operation for (method, path), or None with the reason."""
        path = path.split("?", 1)[0]
        path_matched = False
        for regex, template, item in self._routes:
            m = regex.match(path)
            if not m:
                continue
            path_matched = True
            op = item.get(method.lower())
            if op is None:
                continue
            return self._operation(method, template, item, op, m.groupdict()), []
        if path_matched:
            return None, [f"{method.upper()} is not defined for {path} in the swagger"]
        return None, [f"no swagger path matches {path}"]

    def _operation(
        self, method: str, template: str, item: dict, op: dict, values: dict[str, str]
    ) -> Operation:
        schema, required = None, False
        body = op.get("requestBody")
        if body:
            body = self._deref(body)
            required = bool(body.get("required"))
            schema = body.get("content", {}).get("application/json", {}).get("schema")
        security = op.get("security", self.doc.get("security", []))
        return Operation(
            method=method.upper(),
            template=template,
            operation_id=op.get("operationId", ""),
            params=values,
            security=tuple(name for req in security for name in req),
            body_schema=schema,
            body_required=required,
        )

    # -- validation ------------------------------------------------------------------
    def check(self, method: str, path: str, body: Any = None, *, has_body: bool | None = None) -> list[str]:
        """Every way this request departs from the swagger; [] when it matches."""
        op, problems = self.match(method, path)
        if op is None:
            return problems
        has_body = body is not None if has_body is None else has_body
        where = f"{op.method} {op.template}"
        problems += self._check_params(op, where)
        if op.body_schema is None:
            if has_body and body not in ({}, None):
                problems.append(f"{where}: takes no JSON body")
            return problems
        if not has_body:
            if op.body_required:
                problems.append(f"{where}: a JSON body is required")
            return problems
        validator = self._validator(op)
        for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            at = "/".join(str(p) for p in error.absolute_path) or "(body)"
            problems.append(f"{where}: {at}: {error.message}")
        if self.strict and isinstance(body, dict):
            known = self._properties(op.body_schema)
            if known is not None:
                for key in body:
                    if key not in known:
                        problems.append(f"{where}: unknown property {key!r} (not in the swagger)")
        return problems

    def _check_params(self, op: Operation, where: str) -> list[str]:
        problems = []
        path_item = self.doc["paths"][op.template]
        declared = [self._deref(p) for p in path_item.get("parameters", [])]
        declared += [self._deref(p) for p in path_item[op.method.lower()].get("parameters", [])]
        for param in declared:
            if param.get("in") != "path" or param.get("name") not in op.params:
                continue
            if param.get("schema", {}).get("type") == "integer" and not op.params[param["name"]].isdigit():
                problems.append(f"{where}: path parameter {param['name']} must be an integer")
        return problems

    def _validator(self, op: Operation) -> Draft202012Validator:
        key = (op.method, op.template)
        if key not in self._validators:
            # `#/components/...` refs resolve against the root of the schema being validated,
            # so carrying the document's components beside the operation schema resolves them
            # without rewriting any $ref.
            root = {**op.body_schema, "components": self.doc["components"]}
            self._validators[key] = Draft202012Validator(root)
        return self._validators[key]

    def _properties(self, schema: dict[str, Any]) -> set[str] | None:
        schema = self._deref(schema)
        if schema.get("additionalProperties") not in (None, False) or "properties" not in schema:
            return None  # open schema: anything goes
        return set(schema["properties"])

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"external $ref not supported: {ref}")
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
        return node


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=4)
def shared_validator(spec_path: str | None = None, strict: bool = True) -> SwaggerValidator:
    """One compiled validator per process: compiling the 400 kB document is the slow part."""
    return SwaggerValidator(spec_path, strict=strict)

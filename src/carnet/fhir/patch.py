"""PDSm metadata updates: a JSON Patch (RFC 6902) — or the FHIRPath Patch MHD shows for the
status — limited to `status`, `securityLabel` and the `pdsm-ext-is-archived` extension.

Any other path is refused with 405 (PDSm: "toute autre modification est refusée"). The patch is
applied to the document's current FHIR form; what changed is then handed to the service as a
`MetadataChange`, which decides who may change what and records the new version.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from carnet.documents.services import (
    CONFIDENTIALITY_LEVELS,
    VISIBILITY_LABELS,
    MetadataChange,
)
from carnet.fhir.documents import IS_ARCHIVED
from carnet.fhir.issues import InvalidResource
from carnet.fhir.outcome import Issue
from carnet.fhir.participants import as_dict, as_list, text

ALLOWED_ROOTS = frozenset({"status", "securityLabel", "extension"})
_OPERATIONS = frozenset({"add", "remove", "replace", "test"})


def _invalid(message: str, expression: str = "PATCH", *, status: int = 400) -> InvalidResource:
    code = "not-supported" if status == 405 else "invalid"
    return InvalidResource(
        [Issue(code=code, diagnostics=message, expression=expression)], status=status
    )


def _not_allowed(path: str) -> InvalidResource:
    return _invalid(
        f"{path} : seules les métadonnées status, securityLabel et l'extension isArchived "
        "(pdsm-ext-is-archived) peuvent être modifiées.",
        path,
        status=405,
    )


def from_fhirpath_patch(parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The FHIRPath Patch (`Parameters`) of the MHD examples, as JSON Patch operations."""
    operations = []
    for parameter in as_list(parameters.get("parameter")):
        if as_dict(parameter).get("name") != "operation":
            raise _invalid("Parameters : seuls des paramètres « operation » sont attendus.")
        parts = {
            text(as_dict(p).get("name")): as_dict(p)
            for p in as_list(as_dict(parameter).get("part"))
        }
        kind = text(parts.get("type", {}).get("valueCode"))
        path = text(parts.get("path", {}).get("valueString"))
        value = parts.get("value", {})
        if path != "DocumentReference.status":
            raise _not_allowed(path or "Parameters.parameter.part[path]")
        if kind != "replace":
            raise _invalid(f"{path} : seule l'opération « replace » est prise en charge.", path)
        operations.append(
            {"op": "replace", "path": "/status", "value": text(value.get("valueCode"))}
        )
    if not operations:
        raise _invalid("Parameters : aucune opération.")
    return operations


def _pointer(path: object) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise _invalid(f"« {path} » n'est pas un pointeur JSON (RFC 6901).")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _check_allowed(tokens: list[str], path: str, document: Mapping[str, Any], value: Any) -> None:
    root = tokens[0]
    if root not in ALLOWED_ROOTS:
        raise _not_allowed(path)
    if root == "status" and len(tokens) > 1:
        raise _not_allowed(path)
    if root == "extension":
        extensions = as_list(document.get("extension"))
        if len(tokens) == 1:
            # The whole list: allowed only if every extension in it is isArchived.
            if not all(as_dict(e).get("url") == IS_ARCHIVED for e in as_list(value)):
                raise _not_allowed(path)
            return
        index = tokens[1]
        if index == "-":
            target: Any = value
        elif index.isdigit() and int(index) < len(extensions):
            target = extensions[int(index)]
        else:
            raise _invalid(f"{path} : extension inexistante.", path)
        if as_dict(target).get("url") != IS_ARCHIVED or tokens[2:] not in ([], ["valueBoolean"]):
            raise _not_allowed(path)


def _parent(document: Any, tokens: list[str], path: str) -> tuple[Any, str]:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise _invalid(f"{path} : chemin inexistant.", path)
    return node, tokens[-1]


def _apply(document: dict[str, Any], operation: Mapping[str, Any]) -> None:
    op, path = operation.get("op"), operation.get("path")
    if op not in _OPERATIONS:
        raise _invalid(f"opération « {op} » non prise en charge (add, remove, replace, test).")
    tokens = _pointer(path)
    if (op in {"add", "replace", "test"}) and "value" not in operation:
        raise _invalid(f"{path} : « value » est obligatoire pour « {op} ».", str(path))
    value = operation.get("value")
    _check_allowed(tokens, str(path), document, value)
    parent, key = _parent(document, tokens, str(path))
    if isinstance(parent, list):
        if key == "-" and op == "add":
            parent.append(value)
            return
        if not key.isdigit() or int(key) > len(parent) or (op != "add" and int(key) == len(parent)):
            raise _invalid(f"{path} : index hors limites.", str(path))
        index = int(key)
        if op == "add":
            parent.insert(index, value)
        elif op == "remove":
            del parent[index]
        elif op == "replace":
            parent[index] = value
        elif parent[index] != value:
            raise _invalid(f"{path} : le test a échoué.", str(path), status=412)
        return
    if not isinstance(parent, dict):
        raise _invalid(f"{path} : chemin inexistant.", str(path))
    if op == "add":
        parent[key] = value
    elif key not in parent:
        raise _invalid(f"{path} : élément absent.", str(path))
    elif op == "remove":
        del parent[key]
    elif op == "replace":
        parent[key] = value
    elif parent[key] != value:
        raise _invalid(f"{path} : le test a échoué.", str(path), status=412)


def metadata_change(
    current: Mapping[str, Any], operations: object, *, confidentiality: str, invisible_until: Any
) -> MetadataChange:
    """What a patch changes in `current` (the document's DocumentReference), as a MetadataChange.

    Raises InvalidResource: 405 for a path outside the allowed metadata, 412 for a failed test,
    400 for a malformed patch or a value the DMP does not accept.
    """
    if not isinstance(operations, list) or not operations:
        raise _invalid("Le corps d'un PATCH est une liste d'opérations JSON Patch (RFC 6902).")
    patched = copy.deepcopy(dict(current))
    for operation in operations:
        if not isinstance(operation, Mapping):
            raise _invalid("Chaque opération JSON Patch est un objet.")
        _apply(patched, operation)
    status = patched.get("status")
    if not isinstance(status, str) or not status:
        raise _invalid("status : valeur obligatoire.", "status")
    labels, levels = set(), set()
    for index, concept in enumerate(as_list(patched.get("securityLabel"))):
        codings = as_list(as_dict(concept).get("coding"))
        for coding in codings:
            code = text(as_dict(coding).get("code"))
            if code in CONFIDENTIALITY_LEVELS:
                levels.add(code)
            elif code in VISIBILITY_LABELS:
                labels.add(code)
            else:
                raise _invalid(
                    f"securityLabel[{index}] : code « {code} » non accepté par le DMP (JDV_J58).",
                    f"securityLabel[{index}]",
                )
    if levels - {confidentiality}:
        raise _invalid(
            "securityLabel : le niveau de confidentialité (N, R, V) n'est pas modifiable.",
            "securityLabel",
        )
    archived = next(
        (
            as_dict(e).get("valueBoolean")
            for e in as_list(patched.get("extension"))
            if as_dict(e).get("url") == IS_ARCHIVED
        ),
        False,
    )
    if not isinstance(archived, bool):
        raise _invalid("extension isArchived : valueBoolean attendu (true ou false).", "extension")
    before_labels = {
        text(as_dict(c).get("code"))
        for concept in as_list(current.get("securityLabel"))
        for c in as_list(as_dict(concept).get("coding"))
    } & VISIBILITY_LABELS
    before_archived = any(
        as_dict(e).get("url") == IS_ARCHIVED and as_dict(e).get("valueBoolean") is True
        for e in as_list(current.get("extension"))
    )
    return MetadataChange(
        status=status if status != current.get("status") else None,
        labels=frozenset(labels) if labels != before_labels else None,
        invisible_until=invisible_until,
        archived=archived if archived != before_archived else None,
    )

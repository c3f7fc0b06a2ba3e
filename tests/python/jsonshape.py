"""Checks a JSON value against one of the committed schemas in include/schemas/.

A small validator of the part of JSON Schema 2020-12 those schemas use (type, enum,
pattern, minimum, maximum, minItems, properties, required, additionalProperties, items,
oneOf, allOf, if/then/else, local $ref), so that the test needs nothing installed. Where
the `jsonschema` package is installed, the value is checked by it as well.
"""
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMAS = os.path.join(ROOT, "include", "schemas")

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def load(name):
    with open(os.path.join(SCHEMAS, name)) as f:
        return json.load(f)


def _errors(value, schema, root, path):
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{path}: no value is allowed here"]
    errs = []
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        errs += _errors(value, target, root, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](value) for t in types):
            return errs + [f"{path}: {value!r} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errs.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errs += _errors(item, schema["items"], root, f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errs.append(f"{path}: '{key}' is missing")
        for key, item in value.items():
            if key in props:
                errs += _errors(item, props[key], root, f"{path}.{key}")
            elif "additionalProperties" in schema:
                errs += _errors(item, schema["additionalProperties"], root, f"{path}.{key}")
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not _errors(value, s, root, path)]
        if len(matching) != 1:
            errs.append(f"{path}: {value!r} matches {len(matching)} of oneOf")
    for sub in schema.get("allOf", []):
        errs += _errors(value, sub, root, path)
    if "if" in schema:
        branch = "then" if not _errors(value, schema["if"], root, path) else "else"
        if branch in schema:
            errs += _errors(value, schema[branch], root, path)
    return errs


def errors(value, schema_name):
    """The list of ways `value` breaks the schema (empty when it fits)."""
    schema = load(schema_name)
    errs = _errors(value, schema, schema, "$")
    try:
        import jsonschema  # noqa: PLC0415
    except ImportError:
        return errs
    validator = jsonschema.Draft202012Validator(schema)
    errs += [f"jsonschema: {e.message}" for e in validator.iter_errors(value)]
    return errs

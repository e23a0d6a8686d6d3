"""Validates trustkey --json documents against docs/json-schema/trustkey.schema.json.

Usage: validate_json.py SCHEMA DOCS [--all]
DOCS is a JSON array of [document name, document]; each is checked against the schema's
$defs entry of that name. With --all, every documented command must be among them (the names
in the schema's "x-elsewhere" list are validated by other tests; those in "x-unchecked" are
documented only: no test runs them with --json). Prints one line per problem;
exits 1 if there is any.
"""
import json
import sys

from jsonschema import Draft202012Validator


def main():
    schema_path, docs_path = sys.argv[1], sys.argv[2]
    check_all = "--all" in sys.argv[3:]
    schema = json.load(open(schema_path))
    Draft202012Validator.check_schema(schema)
    docs = json.load(open(docs_path))
    defs = schema["$defs"]
    problems = []
    seen = set()
    for name, doc in docs:
        seen.add(name)
        if name not in schema.get("x-documents", []):
            problems.append(f"{name}: not a document the schema lists (x-documents)")
            continue
        v = Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"})
        for e in sorted(v.iter_errors(doc), key=lambda e: e.json_path):
            problems.append(f"{name}: {e.json_path}: {e.message}")
    if check_all:
        elsewhere = set(schema.get("x-elsewhere", [])) | set(schema.get("x-unchecked", []))
        for name in schema.get("x-documents", []):
            if name not in seen and name not in elsewhere:
                problems.append(f"{name}: documented, but no command produced it")
    for p in problems:
        print(p)
    print(json.dumps({"checked": len(docs), "problems": len(problems)}))
    sys.exit(1 if problems else 0)


main()

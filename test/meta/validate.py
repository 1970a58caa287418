"""Validate a META.json against the PGXN Meta Spec v1 JSON Schemas.

    python3 test/meta/validate.py META.json

The schemas in test/meta/schema are PGXN's own (pgxn/meta, schema/v1,
PostgreSQL License, see LICENSE.md there), kept here because tests run
without network.  Prints every violation; exit 1 when there is one.
"""
import json
import os
import sys
import warnings

import jsonschema

# The schemas write Perl's Unicode and POSIX classes, which Python's re
# lacks; the same sets in re's terms (Cntrl is Unicode's Cc, Space its
# White_Space; lower is used only for a repository's type, ASCII there).
PERL_CLASSES = {
    r"\p{Cntrl}": r"\x00-\x1f\x7f-\x9f",
    r"\p{Space}": r"\s",
    r"\p{lower}": r"[a-z]",
    r"[:digit:]": r"0-9",
}


def python_patterns(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "pattern" and isinstance(v, str):
                for perl, py in PERL_CLASSES.items():
                    v = v.replace(perl, py)
                node[k] = v
            else:
                python_patterns(v)
    elif isinstance(node, list):
        for v in node:
            python_patterns(v)


here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema")
schemas = {}
for name in os.listdir(here):
    if name.endswith(".schema.json"):
        with open(os.path.join(here, name)) as fh:
            s = json.load(fh)
        python_patterns(s)
        schemas[s["$id"]] = s
top = schemas["https://pgxn.org/meta/v1/distribution.schema.json"]

with open(sys.argv[1]) as fh:
    meta = json.load(fh)

cls = jsonschema.Draft202012Validator
try:  # jsonschema >= 4.18 resolves $ref through a referencing registry
    from referencing import Registry, Resource
    registry = Registry().with_resources(
        (uri, Resource.from_contents(s)) for uri, s in schemas.items())
    validator = cls(top, registry=registry, format_checker=cls.FORMAT_CHECKER)
except ImportError:  # Debian 12's 4.10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resolver = jsonschema.RefResolver.from_schema(top, store=schemas)
        validator = cls(top, resolver=resolver, format_checker=cls.FORMAT_CHECKER)

errors = sorted(validator.iter_errors(meta), key=lambda e: list(e.absolute_path))
for e in errors:
    print("%s: %s" % ("/".join(map(str, e.absolute_path)) or "(top)", e.message))
sys.exit(1 if errors else 0)

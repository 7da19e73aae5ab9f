"""The function table: what a template may call, with the Go parameter kinds of each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ParamKind = Literal["any", "str", "int", "bool"]


@dataclass(frozen=True, slots=True)
class Func:
    """A function: its Python implementation and its Go parameters.

    ``variadic`` is the kind of the trailing ``...`` parameter, if any. ``lazy`` functions
    (``and``, ``or``) receive unevaluated arguments from the executor.
    """

    call: Callable[..., Any]
    params: tuple[ParamKind, ...] = ()
    variadic: ParamKind | None = None
    lazy: bool = False


# Functions refused by name, with the reason; Go would accept them, Tether never will.
REFUSED: dict[str, str] = {
    "call": "calls a function value",
    "env": "reads the controller's environment",
    "expandenv": "reads the controller's environment",
    "getHostByName": "resolves host names",
    "readFile": "reads files",
    "include": "is Helm's, not Argo CD's",
    "tpl": "is Helm's, not Argo CD's",
    "lookup": "is Helm's, not Argo CD's",
}

# Sprig functions Tether does not provide (yet); Argo CD templates rarely use them.
UNSUPPORTED_SPRIG = frozenset(
    [
        "slugify",
        "abbrevboth",
        "ago",
        "bcrypt",
        "buildCustomCert",
        "camelcase",
        "decryptAES",
        "deepCopy",
        "deepEqual",
        "derivePassword",
        "dateInZone",
        "date_in_zone",
        "date_modify",
        "duration",
        "durationRound",
        "encryptAES",
        "genCA",
        "genCAWithKey",
        "genPrivateKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "hello",
        "htmlDate",
        "htmlDateInZone",
        "htpasswd",
        "initials",
        "isAbs",
        "kebabcase",
        "kindIs",
        "kindOf",
        "list_append",
        "mergeOverwrite",
        "mustDateModify",
        "mustDeepCopy",
        "mustFromJson",
        "mustMerge",
        "mustMergeOverwrite",
        "mustRegexFind",
        "mustRegexFindAll",
        "mustRegexMatch",
        "mustRegexReplaceAll",
        "mustRegexReplaceAllLiteral",
        "mustRegexSplit",
        "mustToDate",
        "mustToJson",
        "mustToPrettyJson",
        "mustToRawJson",
        "omit",
        "pick",
        "pluck",
        "randAlpha",
        "randAlphaNum",
        "randAscii",
        "randBytes",
        "randInt",
        "randNumeric",
        "regexFindAll",
        "regexQuoteMeta",
        "regexReplaceAllLiteral",
        "regexSplit",
        "semver",
        "semverCompare",
        "seq",
        "shuffle",
        "snakecase",
        "toDecimal",
        "toRawJson",
        "toTitle",
        "typeIs",
        "typeIsLike",
        "typeOf",
        "unset",
        "untitle",
        "urlJoin",
        "uuidv4",
        "wrap",
        "wrapWith",
        "addf",
        "add1f",
        "subf",
        "mulf",
        "divf",
        "maxf",
        "minf",
        "biggest",
        "float64s",
        "int64s",
        "fail",
        "osBase",
        "osClean",
        "osDir",
        "osExt",
        "osIsAbs",
        "clean",
        "dir",
        "ext",
    ]
)


def refusal(name: str, table: Mapping[str, Func], allowed: frozenset[str] | None) -> str | None:
    """Why ``name`` may not be called (a Go-style parse error message), or None when it may."""
    if name in REFUSED:
        return f'function "{name}" is refused: it {REFUSED[name]}'
    if name in table and (allowed is None or name in allowed):
        return None
    if name in table or name in UNSUPPORTED_SPRIG:
        return f'function "{name}" is not supported'
    return f'function "{name}" not defined'

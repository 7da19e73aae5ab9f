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
        "abbrev",
        "slugify",
        "abbrevboth",
        "adler32sum",
        "ago",
        "append",
        "atoi",
        "b32dec",
        "b32enc",
        "bcrypt",
        "buildCustomCert",
        "camelcase",
        "ceil",
        "chunk",
        "compact",
        "concat",
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
        "first",
        "floor",
        "genCA",
        "genCAWithKey",
        "genPrivateKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "has",
        "hello",
        "htmlDate",
        "htmlDateInZone",
        "htpasswd",
        "initial",
        "initials",
        "isAbs",
        "kebabcase",
        "kindIs",
        "kindOf",
        "last",
        "list_append",
        "mergeOverwrite",
        "mustAppend",
        "mustChunk",
        "mustCompact",
        "mustDateModify",
        "mustDeepCopy",
        "mustFirst",
        "mustFromJson",
        "mustHas",
        "mustInitial",
        "mustLast",
        "mustMerge",
        "mustMergeOverwrite",
        "mustPrepend",
        "mustPush",
        "mustRegexFind",
        "mustRegexFindAll",
        "mustRegexMatch",
        "mustRegexReplaceAll",
        "mustRegexReplaceAllLiteral",
        "mustRegexSplit",
        "mustRest",
        "mustReverse",
        "mustSlice",
        "mustToDate",
        "mustToJson",
        "mustToPrettyJson",
        "mustToRawJson",
        "mustUniq",
        "mustWithout",
        "nospace",
        "omit",
        "pick",
        "pluck",
        "plural",
        "prepend",
        "push",
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
        "repeat",
        "rest",
        "reverse",
        "round",
        "semver",
        "semverCompare",
        "seq",
        "sha1sum",
        "sha512sum",
        "shuffle",
        "snakecase",
        "sortAlpha",
        "splitn",
        "substr",
        "swapcase",
        "toDecimal",
        "toRawJson",
        "toStrings",
        "toTitle",
        "typeIs",
        "typeIsLike",
        "typeOf",
        "uniq",
        "unset",
        "until",
        "untilStep",
        "untitle",
        "urlJoin",
        "uuidv4",
        "without",
        "wrap",
        "wrapWith",
        "addf",
        "add1",
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
        "trimAll",
        "trimall",
        "sortAlpha",
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

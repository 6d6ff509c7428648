"""Which form the simulated API server answers a resource request in, from its Accept header (pure).

As the API server's content negotiation (apimachinery's NegotiateOutputMediaType): the media ranges are
tried from the highest q down (ties in the order given; q=0 means "not this"), and the first one the server
serves wins. The simulator serves JSON only, so `application/json`, `application/*` and `*/*` match; a
range that asks for a conversion (`as=KIND;g=GROUP;v=VERSION`) matches only for PartialObjectMetadata or
PartialObjectMetadataList in meta.k8s.io v1 or v1beta1. Any other conversion (a Table: this server has no
table convertor) is passed over, so a client's trailing `,application/json` gets the object itself. No
Accept header at all is `*/*`; nothing acceptable is 406 NotAcceptable, naming what is served.

Where this differs from a real API server: it serves neither YAML nor protobuf nor Tables (kubectl's
`as=Table` Accept ends in `application/json`, so kubectl gets the list itself), and its 406 names only JSON.

Whether the conversion fits the request (a list asked for PartialObjectMetadata, a single object for
...List) is decided after the read, as the API server does: `conversion_error`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecrwatch.sim.kube_store import ApiError, ResourceType

META_GROUP = "meta.k8s.io"
_META_VERSIONS = frozenset({"v1", "v1beta1"})
PARTIAL_KINDS = frozenset({"PartialObjectMetadata", "PartialObjectMetadataList"})
SERVED_MEDIA_TYPES = ("application/json",)
_JSON_RANGES = frozenset({("application", "json"), ("application", "*"), ("*", "*")})


@dataclass(frozen=True)
class Representation:
    """The form of an answer: the object (or list) itself, or its metadata only (`kind` set)."""

    kind: str | None = None  # PartialObjectMetadata or PartialObjectMetadataList; None: the object itself
    version: str = "v1"  # of meta.k8s.io, for a conversion

    @property
    def api_version(self) -> str:
        return f"{META_GROUP}/{self.version}"

    @property
    def content_type(self) -> str:
        if self.kind is None:
            return "application/json"
        return f"application/json;as={self.kind};g={META_GROUP};v={self.version}"


AS_IS = Representation()


@dataclass(frozen=True)
class _Range:
    type: str
    subtype: str
    params: dict[str, str]
    q: float


def _parse(accept: str) -> list[_Range]:
    ranges: list[_Range] = []
    for clause in accept.split(","):
        media, *raw_params = clause.split(";")
        kind, _, subtype = media.strip().lower().partition("/")
        if not kind or not subtype:
            continue
        params: dict[str, str] = {}
        for raw in raw_params:
            key, _, value = raw.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        ranges.append(_Range(kind, subtype.strip(), params, q))
    return sorted(ranges, key=lambda r: -r.q)  # stable: ties keep the client's order


def negotiate(accept: str | None, *, partial_metadata: bool = True) -> Representation:
    """The representation to answer in, or 406 NotAcceptable. `partial_metadata` False: a server that ignores
    the conversion parameters (`as`, `g`, `v`) and always answers the object itself."""
    if accept is None or not accept.strip():
        return AS_IS
    for media in _parse(accept):
        if media.q <= 0 or (media.type, media.subtype) not in _JSON_RANGES:
            continue
        kind = media.params.get("as")
        if kind is None or not partial_metadata:
            return AS_IS
        if kind in PARTIAL_KINDS and media.params.get("g") == META_GROUP and media.params.get("v") in _META_VERSIONS:
            return Representation(kind, media.params["v"])
    accepted = ", ".join(SERVED_MEDIA_TYPES)
    raise ApiError(406, "NotAcceptable", f"only the following media types are accepted: {accepted}")


def conversion_error(representation: Representation, rtype: ResourceType, is_list: bool) -> ApiError | None:
    """406 when the metadata form asked for does not fit what was read (a list or one object), as the API
    server answers after reading it; None when it fits."""
    go_type = f"*{rtype.version}.{rtype.list_kind if is_list else rtype.kind}"
    if representation.kind == "PartialObjectMetadata" and is_list:
        message = f"you requested PartialObjectMetadata, but the requested object is a list ({go_type})"
    elif representation.kind == "PartialObjectMetadataList" and not is_list:
        message = f"you requested PartialObjectMetadataList, but the requested object is not a list ({go_type})"
    else:
        return None
    return ApiError(406, "NotAcceptable", message)

"""Kubeconfig contexts to read: checked before any cluster is read, loaded with the official client's loader.

`load_kubeconfig` reads the file given with `--kubeconfig` (its current context unless contexts are named), or
the standard loading rules for `--kube-context` alone (every file in `KUBECONFIG`, merged first-wins as
kubectl does, else `~/.kube/config`). Whatever makes a context unreadable before a single request (no such
file, not YAML, no such context, a missing cluster or user entry, a certificate or token file that does not
exist, an `http://` server, `insecure-skip-tls-verify`) is a UsageError naming the file or context: exit 2.

`KubeconfigPlan.configuration` then runs the kubernetes client's own loader for one context (token, token
file, client certificate, exec plugin, auth provider) into a client Configuration. The loader is handed a
copy of the context's entries in which inline certificate and key data are already files: each load writes
its own, completely, in a directory the caller owns and removes, before the loader sees their names. The
client's own temp files (remembered process-wide by content, named before they are filled) are never used,
so contexts load side by side, exec plugins included (kube_loader.py runs each load: at a terminal,
plugins that may prompt take turns). The kubeconfig itself is never written (no config persister).
Messages name files and contexts, never their credentials.
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml  # type: ignore[import-untyped]  # a dependency of the kubernetes client
from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import ConfigNode

from ecrwatch.errors import UsageError
from ecrwatch.inventory.kube import ClusterUnavailable
from ecrwatch.inventory.kube_loader import RunLoader, private_file

log = logging.getLogger(__name__)

DEFAULT_KUBECONFIG = "~/.kube/config"
_ENTRY_KINDS = ("clusters", "users", "contexts")
_ENTRY_BODY = {"clusters": "cluster", "users": "user", "contexts": "context"}
_LIST_AT_MOST = 20  # contexts named in a "not found" hint
Entries = dict[str, dict[str, tuple[dict[str, Any], str]]]  # kind -> name -> (entry, defining file)
# The keys whose inline `-data` form the loader would write to its own temp files, by entry kind.
_FILE_KEYS = {"clusters": ("certificate-authority",), "users": ("client-certificate", "client-key")}


@dataclass(frozen=True)
class KubeContext:
    """One context to read. `auth` says how it authenticates (for logs): token, token-file, exec,
    auth-provider, basic, client-certificate or none."""

    name: str
    server: str
    file: str  # the kubeconfig file that defines the context
    auth: str


@dataclass(frozen=True)
class KubeconfigPlan:
    """The checked contexts (in the order asked, each once) and the merged kubeconfig they come from."""

    contexts: tuple[KubeContext, ...]
    files: tuple[str, ...]
    _entries: Entries = field(repr=False, compare=False)  # kind -> name -> (entry, the file defining it)

    def configuration(self, context: KubeContext, temp_dir: str) -> Configuration:
        """A client Configuration for `context`, made by the official loader (this runs an exec plugin).
        Safe to call for several contexts at once: each load has its own copy of the entries and its own files.

        Raises ClusterUnavailable when the loader cannot produce a credential (an exec plugin that fails,
        a file that vanished since it was checked): that context's error, not the run's.
        """
        config = Configuration()
        try:
            loader = RunLoader(self._loader_config(context, temp_dir), context.name, temp_dir)
            loader.load_and_set(config)  # type: ignore[no-untyped-call]
        except (ConfigException, OSError) as exc:
            raise ClusterUnavailable(
                "KubeconfigError",
                f"the kubeconfig context {context.name!r} could not be loaded: {_config_problem(exc)}",
                f"check the context with `kubectl --context {context.name} get pods -A`",
            ) from None
        if context.auth == "exec" and not config.api_key.get("BearerToken") and not config.cert_file:
            raise ClusterUnavailable(
                "ExecPluginFailed",
                f"the exec credential plugin of kubeconfig context {context.name!r} "
                f"{loader.exec_problem or 'gave no credential'}",
                f"run `kubectl --context {context.name} get pods -A` to see the plugin's own message",
            )
        return config

    def _loader_config(self, context: KubeContext, temp_dir: str) -> ConfigNode:
        """The context, its cluster and its user as the loader reads them: copies, with inline data written
        to this load's own files and relative paths resolved from the file that defines each entry."""
        item, path = self._entries["contexts"][context.name]
        body = item["context"]  # checked: a mapping naming a cluster that exists
        chosen = {"contexts": [(item, path)], "clusters": [self._entries["clusters"][body["cluster"]]], "users": []}
        user = body.get("user")
        if isinstance(user, str) and user:  # checked: the user exists
            chosen["users"].append(self._entries["users"][user])
        nodes = {
            kind: [
                ConfigNode(f"{where}/{kind}", _with_files(kind, entry, where, temp_dir), where)  # type: ignore[no-untyped-call]
                for entry, where in found
            ]
            for kind, found in chosen.items()
        }
        return ConfigNode("kubeconfig", nodes, path)  # type: ignore[no-untyped-call]


def _with_files(kind: str, entry: dict[str, Any], defining_file: str, temp_dir: str) -> dict[str, Any]:
    """A deep copy of a cluster or user entry (the loader may write into an auth provider's config) in which
    each non-empty `X-data` is replaced by `X`: the path of a file holding the decoded data, as the loader
    would have decoded it. The loader prefers the data form whenever its key is there, so an empty `X-data`
    is left as it is (no file, as before), and `X` is made absolute only when no `X-data` key is present."""
    copied = copy.deepcopy(entry)
    stanza = copied.get(_ENTRY_BODY[kind])
    if not isinstance(stanza, dict):
        return copied
    base = os.path.dirname(os.path.abspath(defining_file))
    for key in _FILE_KEYS.get(kind, ()):
        data_key = f"{key}-data"
        if stanza.get(data_key):
            stanza[key] = private_file(temp_dir, _decoded(stanza.pop(data_key)))
        elif data_key not in stanza and isinstance(stanza.get(key), str) and stanza[key]:
            stanza[key] = _resolve(base, stanza[key])
    provider = stanza.get("auth-provider")
    settings = provider.get("config") if isinstance(provider, dict) else None
    if isinstance(settings, dict) and settings.get("idp-certificate-authority-data"):
        # Read only when an OIDC token is refreshed, where the client would write it to a temp file of its own.
        # Data that does not decode is left to the client, which refuses it then, as before.
        try:
            idp_ca = _decoded(settings["idp-certificate-authority-data"])
        except (binascii.Error, ValueError, TypeError):
            return copied
        del settings["idp-certificate-authority-data"]
        settings["idp-certificate-authority"] = private_file(temp_dir, idp_ca)
    return copied


def _decoded(data: Any) -> bytes:
    """Base64 as the loader decodes it (characters outside the alphabet, such as line breaks, skipped)."""
    return base64.standard_b64decode(data.encode() if isinstance(data, str) else data)


def _resolve(base: str, reference: str) -> str:
    """A file a kubeconfig entry names, relative to the directory of the file that defines the entry (as
    kubectl resolves it)."""
    return os.path.join(base, os.path.expanduser(reference))


# --- checking (before any cluster is read) ------------------------------------------------------------


def load_kubeconfig(
    path: str | None, context_names: Sequence[str], *, environ: Mapping[str, str] | None = None
) -> KubeconfigPlan:
    """The contexts to read: `context_names`, or the current context of the file(s). Raises UsageError for
    anything that makes the kubeconfig or a context unreadable."""
    env = os.environ if environ is None else environ
    files, where = _files(path, env)
    documents = [(name, _read(name)) for name in files]
    entries, current = _merge(documents)
    names = list(dict.fromkeys(context_names))
    if not names:
        if not current:
            raise UsageError(
                f"kubeconfig {where} has no current context",
                "pass --kube-context NAME (`kubectl config get-contexts` lists them)",
            )
        names = [current]
    contexts = tuple(_check_context(name, entries, where) for name in names)
    return KubeconfigPlan(contexts, tuple(files), entries)


def _files(path: str | None, env: Mapping[str, str]) -> tuple[list[str], str]:
    """The kubeconfig files to read, and how to name them in messages."""
    if path is not None:
        chosen = os.path.expanduser(path)
        if not os.path.isfile(chosen):
            problem = "is a directory" if os.path.isdir(chosen) else "does not exist"
            raise UsageError(f"kubeconfig {path} {problem}", "pass --kubeconfig PATH of a kubeconfig file")
        return [chosen], path
    listed = env.get("KUBECONFIG", "")
    if listed:
        candidates = [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
        present = [p for p in candidates if os.path.isfile(p)]  # kubectl skips listed files that do not exist
        if not present:
            raise UsageError(
                f"none of the files in KUBECONFIG ({listed}) exists",
                "set KUBECONFIG to existing kubeconfig files, or pass --kubeconfig PATH",
            )
        return present, f"KUBECONFIG ({listed})"
    default = os.path.expanduser(DEFAULT_KUBECONFIG)
    if not os.path.isfile(default):
        raise UsageError(
            f"--kube-context needs a kubeconfig: KUBECONFIG is not set and {DEFAULT_KUBECONFIG} does not exist",
            "pass --kubeconfig PATH, or set KUBECONFIG",
        )
    return [default], DEFAULT_KUBECONFIG


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise UsageError(f"kubeconfig {path} cannot be read: {exc.strerror}", "check the file's permissions") from None
    except UnicodeDecodeError:
        raise UsageError(f"kubeconfig {path} is not UTF-8 text", "pass a kubeconfig file") from None
    except yaml.YAMLError as exc:
        # The parser's own message quotes the offending line, which may hold a credential: name the place only.
        mark = getattr(exc, "problem_mark", None)
        place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UsageError(f"kubeconfig {path} is not valid YAML{place}", "fix the file, or pass another") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise UsageError(f"kubeconfig {path} is not a kubeconfig (not a mapping)", "pass a kubeconfig file")
    return document


def _merge(documents: Sequence[tuple[str, dict[str, Any]]]) -> tuple[Entries, str | None]:
    """Clusters, users and contexts by name, the first file to define a name winning (as kubectl merges
    KUBECONFIG), and the first current-context set."""
    entries: Entries = {kind: {} for kind in _ENTRY_KINDS}
    current: str | None = None
    for path, document in documents:
        for kind in _ENTRY_KINDS:
            items = document.get(kind) or []
            if not isinstance(items, list):
                raise UsageError(f"kubeconfig {path} is not a kubeconfig: {kind!r} is not a list", "fix the file")
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    raise UsageError(
                        f"kubeconfig {path} is not a kubeconfig: an entry of {kind!r} has no name", "fix the file"
                    )
                entries[kind].setdefault(item["name"], (item, path))
        if not current and isinstance(document.get("current-context"), str):
            current = document["current-context"] or None
    return entries, current


def _check_context(name: str, entries: Entries, where: str) -> KubeContext:
    found = entries["contexts"].get(name)
    if found is None:
        available = sorted(entries["contexts"])
        listed = ", ".join(available[:_LIST_AT_MOST]) + (" ..." if len(available) > _LIST_AT_MOST else "")
        raise UsageError(
            f"context {name!r} is not in kubeconfig {where}",
            f"choose one of: {listed}" if available else "the kubeconfig defines no contexts",
        )
    item, path = found
    body = item.get("context")
    cluster_name = body.get("cluster") if isinstance(body, dict) else None
    if not isinstance(cluster_name, str) or not cluster_name:
        raise UsageError(f"context {name!r} in {path} names no cluster", "fix the context in the kubeconfig")
    cluster_entry = entries["clusters"].get(cluster_name)
    cluster = cluster_entry[0].get("cluster") if cluster_entry else None
    if cluster_entry is None or not isinstance(cluster, dict):
        raise UsageError(f"context {name!r} names cluster {cluster_name!r}, which is not in kubeconfig {where}")
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise UsageError(f"cluster {cluster_name!r} of context {name!r} has no server address", "fix the kubeconfig")
    if not server.lower().startswith("https://"):
        raise UsageError(
            f"context {name!r}: the API server {_display(server)} is not an https:// address",
            "ecrwatch talks to Kubernetes API servers over TLS only",
        )
    if cluster.get("insecure-skip-tls-verify") is True:
        raise UsageError(
            f"context {name!r} turns TLS verification off (insecure-skip-tls-verify)",
            "ecrwatch always verifies the API server: set certificate-authority-data for the cluster instead",
        )
    cluster_dir = os.path.dirname(os.path.abspath(cluster_entry[1]))
    _check_file(name, cluster, "certificate-authority", cluster_dir)
    _check_data(name, cluster, "certificate-authority", f"cluster {cluster_name!r}")
    user_name = body.get("user") if isinstance(body, dict) else None
    user: dict[str, Any] = {}
    if isinstance(user_name, str) and user_name:
        user_entry = entries["users"].get(user_name)
        if user_entry is None:
            raise UsageError(f"context {name!r} names user {user_name!r}, which is not in kubeconfig {where}")
        user = user_entry[0].get("user") or {}
        if not isinstance(user, dict):
            raise UsageError(f"user {user_name!r} of context {name!r} is not a mapping", "fix the kubeconfig")
        user_dir = os.path.dirname(os.path.abspath(user_entry[1]))
        for key in ("client-certificate", "client-key", "tokenFile"):
            _check_file(name, user, key, user_dir)
        for key in ("client-certificate", "client-key"):
            _check_data(name, user, key, f"user {user_name!r}")
    return KubeContext(name, server, path, _auth_kind(user))


def _check_file(context: str, stanza: Mapping[str, Any], key: str, base: str) -> None:
    """A file a context refers to must exist (unless the inline `-data` form, or `token`, is given)."""
    inline = "token" if key == "tokenFile" else f"{key}-data"
    reference = stanza.get(key)
    if stanza.get(inline) or not isinstance(reference, str) or not reference:
        return
    target = _resolve(base, reference)
    if not os.path.isfile(target):
        raise UsageError(
            f"context {context!r}: {key} {target} does not exist", "fix the path in the kubeconfig, or pass another"
        )


def _check_data(context: str, stanza: Mapping[str, Any], key: str, owner: str) -> None:
    """Inline certificate or key data must be base64 text (the message names the key, never the data)."""
    data = stanza.get(f"{key}-data")
    if not data:
        return
    try:
        if not isinstance(data, str):
            raise TypeError
        _decoded(data)
    except (binascii.Error, ValueError, TypeError):
        raise UsageError(
            f"context {context!r}: {key}-data of {owner} is not base64 text",
            f"set {key}-data to the base64 of the PEM file (`base64 -w0 FILE`), or name the file with {key}",
        ) from None


def _auth_kind(user: Mapping[str, Any]) -> str:
    """How the loader will authenticate, in its order of preference."""
    if "auth-provider" in user:
        return "auth-provider"
    if user.get("token"):
        return "token"
    if user.get("tokenFile"):
        return "token-file"
    if "exec" in user:
        return "exec"
    if "username" in user and "password" in user:
        return "basic"
    if user.get("client-certificate-data") or user.get("client-certificate"):
        return "client-certificate"
    return "none"


def _display(server: str) -> str:
    """A server address without any user:password@ part."""
    scheme, sep, rest = server.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else server.rpartition("@")[2]


def _config_problem(exc: ConfigException | OSError) -> str:
    """What went wrong, naming keys and files only: the loader's one-line message, or a file's error."""
    if isinstance(exc, OSError):
        return f"{exc.filename or 'a file'}: {exc.strerror or type(exc).__name__}"
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__

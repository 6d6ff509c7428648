"""One kubeconfig context's client Configuration, made by the official client's loader with its exec step
replaced (`RunLoader`): an exec plugin's certificate and key go to the load's own files, a plugin's failure is
told by its exit status only, and at a terminal, plugins that may prompt take turns.

kubeconfig.py checks the kubeconfig and hands each load its own copy of the entries; this module runs the
load.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from contextlib import nullcontext
from typing import Any

from kubernetes.config.config_exception import ConfigException
from kubernetes.config.dateutil import parse_rfc3339
from kubernetes.config.exec_provider import ExecProvider
from kubernetes.config.kube_config import ConfigNode, KubeConfigLoader

log = logging.getLogger(__name__)


def private_file(directory: str, content: bytes) -> str:
    """A new file only its owner can read (mkstemp makes it 0600), filled before its name is handed on."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=directory, prefix="kube-")
    with os.fdopen(handle, "wb") as file:
        file.write(content)
    return name


# At a terminal the client hands an exec plugin the terminal's stdin and stderr, to prompt on (an MFA code, a
# sign-in): plugins of several contexts prompting at once would interleave their questions and split the
# user's answers. Those that may prompt take turns; elsewhere (cron, CI, Lambda) and for a plugin that says
# `interactiveMode: Never`, they run side by side. Taking turns also lets the first one's cached sign-in serve
# the next (the AWS CLI caches an assumed role's credentials after the MFA prompt).
_PROMPTING = threading.Lock()


def _at_terminal() -> bool:
    """Whether the client gives exec plugins the terminal (its own test)."""
    return hasattr(sys.stdout, "isatty") and sys.stdout.isatty()


def may_prompt(plugin: Any) -> bool:
    """True when the client would give this exec plugin (its kubeconfig node) the terminal and the plugin does
    not rule out using it (`interactiveMode` Never)."""
    return _at_terminal() and plugin.safe_get("interactiveMode") != "Never"


class _FailedAtTerminal(Exception):
    """An exec plugin given the terminal exited with an error (its message went to the terminal)."""


def _run_plugin(provider: Any) -> Any:
    """`provider.run()`. At a terminal a failed plugin's stderr went to the terminal, and the client then calls
    .strip() on the None it has in its place (an AttributeError, the exit status lost with it)."""
    try:
        return provider.run()
    except AttributeError:
        if not _at_terminal():
            raise
        raise _FailedAtTerminal from None


class _UnreadableExpiry(Exception):
    """An exec plugin's expirationTimestamp that is not RFC 3339 text."""


def _expiry(value: Any) -> Any:
    """The datetime of an ExecCredential's expirationTimestamp (the client's parser: AttributeError on a number)."""
    try:
        return parse_rfc3339(value)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, AttributeError):
        raise _UnreadableExpiry from None


class RunLoader(KubeConfigLoader):
    """The client's loader with its exec step replaced: a certificate and key the plugin prints go to this
    load's own files (not the client's process-wide temp files), and a plugin that fails is told by its exit
    status only (the client would log its stderr, which may quote a credential)."""

    def __init__(self, config: ConfigNode, context: str, temp_dir: str) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            config_dict=config, active_context=context, config_base_path=None, temp_file_path=temp_dir
        )
        self.context_name = context
        self.temp_dir = temp_dir
        self.exec_problem: str | None = None

    def _load_from_exec_plugin(self) -> bool | None:
        """Called by the loader for a user with `exec` (also when it renews an expired credential)."""
        user: Any = self._user  # ConfigNodes, set by the loader before it calls this
        cluster: Any = self._cluster
        if "exec" not in user:
            return None
        try:
            cwd = self._get_base_path(cluster.path)  # type: ignore[no-untyped-call]  # the cluster's file, as before
            with _PROMPTING if may_prompt(user["exec"]) else nullcontext():
                status = _run_plugin(ExecProvider(user["exec"], cwd, cluster))  # type: ignore[no-untyped-call]
            if not isinstance(status, dict):
                raise ConfigException("no status")
            if status.get("token"):
                self.token = f"Bearer {status['token']}"
            elif status.get("clientCertificateData") and status.get("clientKeyData"):
                self.cert_file = private_file(self.temp_dir, str(status["clientCertificateData"]).encode())
                self.key_file = private_file(self.temp_dir, str(status["clientKeyData"]).encode())
            else:
                raise ConfigException("no token, or no certificate and key")
            if "expirationTimestamp" in status:
                self.expiry = _expiry(status["expirationTimestamp"])
        except ConfigException as exc:
            returned = re.search(r"process returned (-?\d+)", str(exc))
            self.exec_problem = f"exited with status {returned.group(1)}" if returned else "gave no credential"
        except OSError as exc:
            self.exec_problem = f"could not be run ({exc.strerror or type(exc).__name__})"
        except _FailedAtTerminal:
            self.exec_problem = "failed (whatever it said went to the terminal)"
        except _UnreadableExpiry:
            self.exec_problem = "gave an unreadable expirationTimestamp"
        except (ValueError, TypeError, KeyError):  # the client starting it: an `args` or `env` value that is not
            # text, a cluster extension without a name (for provideClusterInfo)
            self.exec_problem = "could not be run (the kubeconfig entries it is given are malformed)"
        except Exception as exc:  # noqa: BLE001  # the client's own code: one context's failure, never the run's
            self.exec_problem = f"failed inside the kubernetes client ({type(exc).__name__})"
        else:
            return True
        log.debug("kube-context %s: the exec credential plugin %s", self.context_name, self.exec_problem)
        return None

"""The Hugging Face Hub: models named by repo id (one download into the Hub cache) and pushes.

A Hub id (``org/name``) is fetched once per process with ``huggingface_hub.snapshot_download``
(safetensors weights, JSON configs, tokenizer files, ONNX graphs and model cards only:
pickled ``.bin`` / ``.pt`` files can run code when loaded) and then loads like a local
folder; ``revision=`` picks a branch, tag or commit. ``HF_HUB_OFFLINE=1`` uses the cache only.
``push_folder`` uploads a folder as is (``create_repo(exist_ok=True)`` + ``upload_folder``).
Failures end in one ``InputError`` naming the repository and the cause, at once, instead of
a minute of retries and a traceback.

A name is a local path when it exists, starts with ``.``, ``/`` or ``~``, or its first part is
a local folder (``runs/typo`` stays a missing local folder); otherwise a name of the form
``org/name`` is a Hub id.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from .errors import InputError, first_line

__all__ = [
    "HUB_FILES",
    "hub_folder",
    "hub_revision_error",
    "hub_snapshot",
    "is_hub_id",
    "is_offline",
    "push_folder",
]

#: what a classifier, tokenizer, adapter or export folder needs; never pickles
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "*.md", "*.onnx"]

# the Hub's own rule (huggingface_hub.utils.validate_repo_id): one slash, no "--" or ".."
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}")
_LOGIN = "log in with hf auth login, set HF_TOKEN or pass --token (token=)"


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def is_hub_id(name: str | os.PathLike) -> bool:
    """Whether ``name`` is spelled as a Hub repo id (``org/name``).

    >>> is_hub_id("someone/tiny-bert"), is_hub_id("./runs/x"), is_hub_id("a/b/c")
    (True, False, False)
    """
    text = str(name)
    return bool(_HUB_ID.fullmatch(text)) and ".." not in text and "--" not in text


def hub_folder(name: str | os.PathLike, revision: str | None = None) -> Path | None:
    """The downloaded snapshot of ``name`` when it names a Hub repo rather than a local path;
    None when it is a local path (it exists, does not read as ``org/name``, or its first
    part is a local folder, as in ``runs/typo``). A local path wins over a repo id."""
    text = str(name)
    if Path(text).expanduser().exists() or not is_hub_id(text):
        return None
    if Path(text.split("/")[0]).is_dir():
        return None
    return Path(hub_snapshot(text, revision))


@functools.cache
def hub_snapshot(repo_id: str, revision: str | None = None) -> str:
    """The local folder of ``repo_id`` at ``revision`` (downloaded on first use).

    >>> hub_snapshot("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    '/root/.cache/huggingface/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/...'
    """
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError as err:  # a dependency of transformers, so normally present
        raise ImportError("loading models by Hub id needs: pip install huggingface_hub") from err
    at = f"{repo_id!r}" + (f" at revision {revision!r}" if revision else "")
    offline = is_offline()
    try:
        return snapshot_download(
            repo_id, revision=revision, allow_patterns=HUB_FILES, local_files_only=offline
        )
    except GatedRepoError:
        raise InputError(
            f"{at} is gated on the Hugging Face Hub: accept its terms on its page, then log in "
            "(hf auth login or HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise InputError(
            f"no model {at} on the Hugging Face Hub (or it is private: log in with hf auth "
            "login or HF_TOKEN); check the name, or give a local folder"
        ) from None
    except RevisionNotFoundError:
        raise InputError(
            f"{repo_id!r} has no revision {revision!r} on the Hugging Face Hub"
        ) from None
    except LocalEntryNotFoundError as err:
        if offline:
            raise InputError(
                f"{at} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: unset "
                "it to download, or give a local folder"
            ) from None
        cause = str(err.__cause__ or err).splitlines()[0]
        raise InputError(
            f"cannot download {at} from the Hugging Face Hub ({cause}); check the connection, "
            "or set HF_HUB_OFFLINE=1 to use the cache"
        ) from None
    except (OSError, ValueError) as err:  # HfHubHTTPError and friends are OSErrors
        raise InputError(
            f"cannot download {at} from the Hugging Face Hub: {first_line(err)}"
        ) from None
    except Exception as err:  # httpx2's transport errors (a connection cut mid-download)
        if type(err).__module__.split(".")[0] not in ("httpx", "httpx2"):
            raise
        raise InputError(
            f"cannot download {at} from the Hugging Face Hub ({first_line(err)}); check the "
            "connection, or set HF_HUB_OFFLINE=1 to use the cache"
        ) from None


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    ignore_patterns: list[str] | None = None,
) -> str:
    """Upload ``folder`` as is to the Hub model repo ``repo_id`` (created if missing); the
    URL of the commit, or of the pull request with ``create_pr``.

    ``revision``: a branch to push to (created from main if missing); ``private``: create the
    repo private (an existing public repo is refused: its visibility is not changed here).
    The caller checks that the folder is a phalanx folder (``phalanx push``,
    ``TextClassifier.push_to_hub``).
    """
    from huggingface_hub import HfApi

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"folder {str(folder)!r} does not exist")
    if not is_hub_id(repo_id):
        raise InputError(f"{repo_id!r} is not a Hub repo id: give one as 'user/name' or 'org/name'")
    if create_pr and revision not in (None, "main"):
        raise InputError(
            f"create_pr opens a pull request against main; it cannot target revision "
            f"{revision!r} (drop one of the two)"
        )
    if is_offline():
        raise InputError(f"cannot push to {repo_id!r}: HF_HUB_OFFLINE is set; unset it to push")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if private and not api.model_info(repo_id).private:
            raise InputError(
                f"{repo_id!r} exists and is public; private= does not change an existing repo's "
                "visibility: make it private in its settings on the Hub, or push without it"
            )
        if revision and revision != "main" and not revision.startswith("refs/"):
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(path),
            revision=revision,
            create_pr=create_pr,
            ignore_patterns=ignore_patterns,
            commit_message=commit_message or f"Upload {path.name} with phalanx",
        )
    except InputError:
        raise
    except Exception as err:
        raise InputError(_push_failure(repo_id, err, api.endpoint)) from None
    hub_snapshot.cache_clear()  # a later load in this process sees the new commit
    return str(getattr(info, "pr_url", None) or info.commit_url)


def _push_failure(repo_id: str, err: Exception, endpoint: str) -> str:
    """One line: why pushing to ``repo_id`` failed, and what to do."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(err, OfflineModeIsEnabled):
        return f"cannot push to {repo_id!r}: HF_HUB_OFFLINE is set; unset it to push"
    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, HfHubHTTPError) and status == 401:
        return f"cannot push to {repo_id!r}: not logged in to the Hugging Face Hub; {_LOGIN}"
    if isinstance(err, HfHubHTTPError) and status in (403, 404):
        return (
            f"cannot push to {repo_id!r}: the token cannot write there (HTTP {status}: a "
            f"read-only token, or another user's namespace); {_LOGIN} with a write token"
        )
    module = type(err).__module__.split(".")[0]
    if module in ("httpx", "httpx2") or isinstance(err, ConnectionError):
        return (
            f"cannot push to {repo_id!r}: the Hugging Face Hub at {endpoint} cannot be reached "
            f"({first_line(err)}); check the connection"
        )
    if isinstance(err, HfHubHTTPError | OSError | ValueError):
        return f"cannot push to {repo_id!r}: {first_line(err)}"
    raise err


def hub_revision_error(name: Any, revision: str) -> InputError:
    """``revision`` given with a local folder: it applies to Hub repo ids only."""
    return InputError(
        f"{str(name)!r} is a local folder; revision {revision!r} applies to a Hugging Face Hub "
        "repo id only, and a local folder of that name wins over the repo: drop the revision, "
        "or run from another folder to load the repo"
    )

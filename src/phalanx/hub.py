"""Models named by a Hugging Face Hub id: one download into the Hub cache, one-line errors.

A Hub id (``org/name``) is fetched once per process with ``huggingface_hub.snapshot_download``
(safetensors weights, configs and tokenizer files only: pickled ``.bin`` weights can run code
when loaded) and then loads like a local folder. ``HF_HUB_OFFLINE=1`` uses the cache only.
Failures end in one ``InputError`` naming the repository and the cause, at once, instead of
a minute of transformers' retries and a traceback.
"""

from __future__ import annotations

import functools
import os

from .errors import InputError

__all__ = ["HUB_FILES", "hub_snapshot", "is_offline"]

#: what a classifier, tokenizer or adapter folder needs; never pickles
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "*.md", "*.onnx"]


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


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
        raise InputError(f"cannot download {at} from the Hugging Face Hub: {err}") from None

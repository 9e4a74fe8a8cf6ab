"""Saved LoRA adapters: say what is wrong with a folder before the model loads, and load a run's
adapters (the solution path's ``default`` and, with ``meta.adapter=separate``, the meta path's own)
onto a base model. Used by ``masa-lite eval --adapter``, the notebooks and the study's scripts."""

from __future__ import annotations

import json
from pathlib import Path

from masa_lite.models import META_ADAPTER


def adapter_problem(folder) -> str | None:
    """Why ``folder`` is not a LoRA adapter folder that loads (``adapter_config.json`` and
    complete ``adapter_model.safetensors``), saying which folder to pass instead when it is a run
    or checkpoint folder; None if it looks right. Cheap: runs before the model loads."""
    from masa_lite.checkpoint import checkpoint_folders
    from masa_lite.files import safetensors_problem

    path = Path(folder)
    if not path.exists():
        return "no such folder"
    if not path.is_dir():
        return "is a file; pass the adapter folder (it holds adapter_config.json)"
    if not (path / "adapter_config.json").is_file():
        if (path / "adapter" / "adapter_config.json").is_file():
            return f"is a checkpoint folder; pass its adapter: {path / 'adapter'}"
        ckpts = checkpoint_folders(path)
        if ckpts:
            return (f"is a run folder; pass the adapter of a checkpoint, e.g. the newest: "
                    f"{ckpts[-1] / 'adapter'}")
        return "is empty" if not any(path.iterdir()) else "holds no adapter_config.json"
    try:
        config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        return f"adapter_config.json cannot be read ({' '.join(str(exc).split())[:100]})"
    if not isinstance(config, dict) or "peft_type" not in config:
        return "adapter_config.json is not a peft adapter configuration (no peft_type)"
    for sub in (path, path / META_ADAPTER) if (path / META_ADAPTER).is_dir() else (path,):
        if (sub / "adapter_model.bin").is_file() and not (sub / "adapter_model.safetensors").exists():
            continue  # peft's older format: torch reads it
        why = safetensors_problem(sub / "adapter_model.safetensors")
        if why is not None:
            return why if sub == path else f"{META_ADAPTER}/{why}"
    return None


def check_adapter(folder) -> Path:
    """``folder`` as a path, or :class:`~masa_lite.errors.AdapterError` saying what is wrong
    (:func:`adapter_problem`)."""
    from masa_lite.errors import AdapterError

    why = adapter_problem(folder)
    if why is not None:
        raise AdapterError(f"--adapter {folder}: {why}")
    return Path(folder)


def load_trained_adapters(model, folder):
    """Load a run's adapter folder (``ckpt-*/adapter``) onto a base model: ``default``, plus the
    meta path's own adapter when the run had one (``<folder>/meta``). A folder that is not an
    adapter, or an adapter for another model, is refused in one line naming it."""
    from peft import PeftModel

    from masa_lite.errors import AdapterError

    folder = check_adapter(folder)
    try:
        model = PeftModel.from_pretrained(model, folder)
        if (folder / META_ADAPTER / "adapter_model.safetensors").exists():
            model.load_adapter(folder / META_ADAPTER, adapter_name=META_ADAPTER)
            model.set_adapter("default")
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:  # peft's, for a mismatch
        raise AdapterError(f"--adapter {folder}: does not load onto this model "
                           f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); pass "
                           "an adapter trained from the same base model (--model)") from None
    return model

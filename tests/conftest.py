"""Shared fixtures: a random-weight model with masa-tiny's tokenizer and prompt style, saved as
an ordinary Hugging Face folder (no download, no dependence on the bundled weights)."""

import json

import pytest
import torch


@pytest.fixture(scope="session")
def random_tiny_dir(tmp_path_factory):
    from transformers import LlamaForCausalLM

    from masa_lite.task.tiny_model import build_config, build_tokenizer

    path = tmp_path_factory.mktemp("random-tiny")
    tok = build_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(build_config(len(tok), hidden=32, layers=2, heads=2, intermediate=64))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "masa_lite.json").write_text(json.dumps({"prompt_style": "tiny"}))
    return path


@pytest.fixture()
def random_tiny(random_tiny_dir):
    from masa_lite.models import load_model_and_tokenizer

    return load_model_and_tokenizer(str(random_tiny_dir), device="cpu")

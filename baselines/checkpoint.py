"""Checkpoints that survive ``kill -9``: written to a temporary folder, then renamed into place.

A checkpoint is a folder ``out_dir/checkpoints/step_000012`` holding ``weights.pt`` (the full state
dict, or only the LoRA adapter's), ``trainer_state.pt`` (optimizer, RNG states, step, extras) and
``config.yaml``. A folder appears under its final name only once complete (``os.replace`` of a
folder is atomic on POSIX), so ``latest_checkpoint`` never sees a half-written one.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^step_(\d+)$")


def checkpoint_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / CHECKPOINTS


def is_peft(model: torch.nn.Module) -> bool:
    return hasattr(model, "peft_config")


def trainable_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights a checkpoint must hold: the LoRA adapter of a PEFT model, else every weight."""
    if is_peft(model):
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(model)
    return model.state_dict()


def load_trainable_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    if is_peft(model):
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, dict(state))
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            raise ValueError(f"expected adapter weights of this model, got unexpected keys {unexpected[:5]}")
        return
    model.load_state_dict(dict(state))


def rng_states(generators: Mapping[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Global torch (CPU and CUDA), numpy and Python RNG states, and the named generators' states."""
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Mapping[str, Any], generators: Mapping[str, torch.Generator] | None = None) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    saved = states.get("generators", {})
    for name, generator in (generators or {}).items():
        if name not in saved:
            raise ValueError(f"expected a saved state for generator {name!r}, got only {sorted(saved)}")
        generator.set_state(saved[name])


def save_checkpoint(
    out_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    generators: Mapping[str, torch.Generator] | None = None,
    extra: Mapping[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Write the checkpoint of ``step`` atomically and delete all but the ``keep`` newest."""
    root = checkpoint_dir(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp-step_{step:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    torch.save(trainable_state_dict(model), tmp / "weights.pt")
    state = {
        "step": int(step),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "rng": rng_states(generators),
        "extra": dict(extra or {}),
        "peft": is_peft(model),
    }
    torch.save(state, tmp / "trainer_state.pt")
    if config is not None:
        (tmp / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False))
    _fsync_dir(tmp)
    if final.exists():  # a step saved twice (resumed right after saving): the new copy wins
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    _prune(root, keep)
    return final


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder under ``out_dir``, or None."""
    root = checkpoint_dir(out_dir)
    if not root.is_dir():
        return None
    found = sorted(
        (int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and (p / "trainer_state.pt").is_file()
    )
    return found[-1][1] if found else None


def load_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    generators: Mapping[str, torch.Generator] | None = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load weights, optimizer and RNG states in place; return ``{"step": ..., "extra": ...}``."""
    path = Path(path)
    state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=False)
    if state["peft"] != is_peft(model):
        kind = "a LoRA adapter" if state["peft"] else "full weights"
        raise ValueError(f"{path} holds {kind}; expected {'a LoRA' if is_peft(model) else 'a full'} model to load it into")
    device = next(model.parameters()).device
    load_trainable_state_dict(model, torch.load(path / "weights.pt", map_location=device, weights_only=True))
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    if restore_rng:
        set_rng_states(state["rng"], generators)
    return {"step": state["step"], "extra": state["extra"]}


def _prune(root: Path, keep: int) -> None:
    complete = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)))
    for _, path in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(path, ignore_errors=True)
    for stale in root.glob(".tmp-step_*"):
        if not stale.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

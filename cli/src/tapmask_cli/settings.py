"""CLI defaults from the environment (``TAPMASK_*``); command-line flags override them."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAPMASK_", env_nested_delimiter="__")

    #: Tracker backend: auto (sam2 with CUDA and a checkpoint, else learned when its models
    #: are installed, else cpu), learned, cpu, sam2.
    backend: str = "auto"
    #: SAM 2.1 checkpoint file (``.pt``) for the sam2 backend.
    sam2_checkpoint: Path | None = None
    #: SAM 2.1 model config name (``None``: the tracker's default, hiera tiny).
    sam2_config: str | None = None
    #: Torch device for sam2 (``None``: cuda when available).
    device: str | None = None
    #: The learned tracker's SAM encoder runtime: onnxruntime, openvino (bfloat16 where the
    #: CPU has it: about twice as fast) or auto (openvino there, else onnxruntime).
    sam_encoder: str = "onnxruntime"
    #: libx264 preset and quality of the output video.
    preset: str = "veryfast"
    crf: int = 23

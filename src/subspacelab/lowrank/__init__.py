"""Low-rank training of weight matrices: LoRA, ReLoRA, GaLore (via galore-torch), SwitchLoRA."""

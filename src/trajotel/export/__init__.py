"""Dataset export: trajectories to the files trainers read (docs/export.md)."""

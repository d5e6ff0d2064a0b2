"""A custom handler (Clara Train 4.x BYOC): an object with `attach(engine)`, as MONAI's handlers are, used as
`{"path": "my_handlers.EpochLogger", "args": {...}}` in a handlers list."""

from __future__ import annotations

from pathlib import Path

from ignite.engine import Engine, Events
from monai.handlers import from_engine


class EpochLogger:
    """Append "epoch N loss L" to a text file after each epoch."""

    def __init__(self, log_file: str):
        self.log_file = Path(log_file)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def epoch_completed(self, engine: Engine) -> None:
        loss = from_engine(["loss"], first=True)(engine.state.output)
        with self.log_file.open("a") as log:
            log.write(f"epoch {engine.state.epoch} loss {float(loss):.4f}\n")

"""The progress bar of a run: cases done, with images and masks per second."""

from __future__ import annotations

import sys
import time
from typing import Optional

from tqdm import tqdm

from .record import CaseRecord


class Progress:
    """A tqdm bar over cases; silent when disabled or when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool = True):
        self._bar = tqdm(total=total, unit="case", dynamic_ncols=True,
                         disable=not enabled or not sys.stderr.isatty())
        self._start = time.perf_counter()
        self.images = 0
        self.masks = 0

    def update(self, record: Optional[CaseRecord]) -> None:
        if record is not None:
            self.images += len(record.images)
            self.masks += record.n_masks
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        self._bar.set_postfix_str(f"{self.images / elapsed:.0f} images/s, {self.masks / elapsed:.0f} masks/s",
                                  refresh=False)
        self._bar.update(1)

    def write(self, line: str) -> None:
        if self._bar.disable:
            print(line, file=sys.stderr)
        else:
            self._bar.write(line, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()

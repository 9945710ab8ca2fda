"""Figures of the simulation studies: matplotlib's Agg backend (no display), one style, atomic PNG files.

Every figure has a title naming its claim id, labelled axes, a legend, and 95% confidence bands or
error bars wherever a Monte Carlo number is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator
from numpy.typing import ArrayLike

from evidence.io import atomic_path

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")
"""Colours in order; series keep their colour across the panels of a figure."""


def color(i: int) -> str:
    """The i-th colour of :data:`PALETTE` (cycling)."""
    return PALETTE[i % len(PALETTE)]


def new_figure(rows: int, cols: int, title: str, *, panel_size: tuple[float, float] = (4.2, 3.4),
               sharey: bool | str = False) -> tuple[Figure, np.ndarray]:
    """A figure of rows x cols panels (``axes`` always 2-d) with a bold suptitle."""
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows + 1.0),
                             squeeze=False, sharey=sharey)
    fig.suptitle(title, fontsize=13, fontweight="bold")
    return fig, axes


def band(ax: Axes, x: ArrayLike, y: ArrayLike, half_width: ArrayLike, *, label: str, c: str,
         marker: str = "o", linestyle: str = "-") -> None:
    """A line with markers and its shaded 95% confidence band y +- half_width."""
    x, y, hw = (np.asarray(v, dtype=float) for v in (x, y, half_width))
    ax.plot(x, y, marker=marker, linestyle=linestyle, color=c, label=label, markersize=4)
    ax.fill_between(x, y - hw, y + hw, color=c, alpha=0.2, linewidth=0)


def error_points(ax: Axes, x: ArrayLike, y: ArrayLike, half_width: ArrayLike, *, label: str, c: str,
                 marker: str = "o") -> None:
    """Points with 95% error bars, no connecting line."""
    ax.errorbar(np.asarray(x, float), np.asarray(y, float), yerr=np.asarray(half_width, float), fmt=marker,
                color=c, label=label, markersize=4, capsize=2, linewidth=1)


def log2_axis(ax: Axes, values: Sequence[int], label: str = "group size G") -> None:
    """x on a log2 scale with a tick at each value."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(values))
    ax.set_xticklabels([str(v) for v in values])
    ax.xaxis.set_minor_locator(NullLocator())  # the values are the ticks; minor ticks only cost drawing time
    ax.set_xlabel(label)


def finish(ax: Axes, title: str, ylabel: str, *, xlabel: str | None = None, legend: bool = True,
           legend_size: float = 7.5, legend_loc: str = "best") -> None:
    """Panel title, labels, grid and legend."""
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3, which="both")
    if legend:
        ax.legend(fontsize=legend_size, framealpha=0.85, loc=legend_loc)


def key_legend(ax: Axes, colors: dict[str, str], styles: dict[str, str], *, size: float = 7.0,
               loc: str = "best") -> None:
    """A compact legend: one entry per colour (series) and one per line style (what the line shows)."""
    handles = [Line2D([], [], color=c, marker="o", markersize=4, label=label) for label, c in colors.items()]
    handles += [Line2D([], [], color="k", linestyle=ls, label=label) for label, ls in styles.items()]
    ax.legend(handles=handles, fontsize=size, framealpha=0.85, loc=loc)


def save_figure(fig: Figure, path: str | Path, *, note: str = "") -> Path:
    """Save ``fig`` as PNG atomically (temporary file renamed onto ``path``), with an optional footnote,
    and close it. Margins are fixed in inches (matplotlib's tight layout costs a full extra draw)."""
    width, height = fig.get_size_inches()
    if note:
        fig.text(0.01, 0.08 / height, note, fontsize=7.5, color="#444444", ha="left", va="bottom")
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width, top=1 - 0.75 / height,
                        bottom=(0.85 if note else 0.6) / height, wspace=0.32, hspace=0.5)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)

"""A static HTML report of the feedback signal: click rates, position bias, labels, dwell, quick-backs.

``write_report`` reads the feedback job's Parquet datasets and writes PNG plots beside one
``index.html`` that references them, plus the estimated ``propensity.json`` that
``rankfeed export-ltr --propensity`` consumes.

Where impressions come from matters. ``events/`` holds every search with its full result list and
every click: an unbiased sample for position bias. ``ltr_examples/`` only holds lists with a click,
down to the deepest click or scroll, which over-represents clicks at deep positions (a row at
position 9 exists *because* something at 9 or below was clicked). θ is therefore estimated from
``events/`` when it has searches, and from ``ltr_examples/`` only as a fallback, flagged in the
report. Label mix, dwell and quick-backs are properties of the examples and always come from
``ltr_examples/``.

Plots use matplotlib's object API (``Figure`` and its Agg canvas), never ``pyplot``: no global
state, no GUI backend, safe to call from any thread or test.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rankfeed.datasets import EVENTS_DATASET
from rankfeed.evaluate import Evaluation, Interval, evaluate_model
from rankfeed.export import IGNORED_KIND, dataset_path, open_dataset, read_ltr_examples
from rankfeed.model import ModelArtifact
from rankfeed.propensity import (
    DEFAULT_MAX_WEIGHT,
    DEFAULT_PRIOR_STRENGTH,
    BoolArray,
    FloatArray,
    IntArray,
    PropensityTable,
    bootstrap_randomized,
    default_theta,
    em_position_bias,
    from_randomized,
)
from rankfeed.settings import JobSettings

REPORT_FILE = "index.html"
PROPENSITY_FILE = "propensity.json"
#: Deepest position estimated and plotted; deeper ones are too rarely seen to say anything.
MAX_POSITIONS = 50
#: Share of the bootstrap distribution outside each side of the θ band (a 90% band).
BAND_TAIL = 0.05
QUICK_BACK_KIND = "quick_back"
#: One colour per label kind in every plot, so a reader learns them once.
KIND_COLOURS = {"book": "tab:green", "click": "tab:blue", IGNORED_KIND: "tab:gray", QUICK_BACK_KIND: "tab:red"}

Source = Literal["events", "ltr_examples"]


class ReportError(ValueError):
    """The datasets cannot give what the report needs; the message says what is missing."""


@dataclass(frozen=True)
class Impressions:
    """Every shown result and whether it was clicked: the input of the propensity estimators."""

    #: Result list (search) of each impression, as a dense integer code.
    list_ids: IntArray
    #: (query, hotel) pair of each impression, as a dense integer code: EM's γ is per pair.
    pair_ids: IntArray
    positions: IntArray
    clicks: BoolArray
    randomized: BoolArray
    source: Source

    @property
    def max_position(self) -> int:
        return min(int(self.positions.max()), MAX_POSITIONS)


def load_impressions(parquet_dir: Path) -> Impressions:
    """Impressions from ``events/`` when it holds searches, else from ``ltr_examples/`` (see module doc)."""
    events = dataset_path(parquet_dir, EVENTS_DATASET)
    if events.is_dir():
        impressions = _impressions_from_events(events)
        if impressions is not None:
            return impressions
    return _impressions_from_ltr(parquet_dir)


def _codes(values: pa.ChunkedArray | pa.Array) -> IntArray:
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes: IntArray = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes


def _pair_key(query: pa.Array | pa.ChunkedArray, hotel_id: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.binary_join_element_wise(pc.fill_null(query, ""), hotel_id, "\x1f")


def _impressions_from_events(path: Path) -> Impressions | None:
    """Impressions of every ``search`` action's result list; clicked if the list has a ``click`` on the hotel.

    Searches without a ``search_id`` are skipped (no click can name them), and a search_id seen
    twice is one list, its first event kept; None when no search is left.
    """
    columns = ["action_type", "search_id", "query", "hotel_id", "impressions", "ranking_randomized"]
    actions = open_dataset(path).to_table(columns=columns, filter=pc.field("action_type").isin(["search", "click"]))
    # A search without an id cannot be joined to its clicks: it is no usable result list.
    is_search = pc.and_(pc.equal(actions["action_type"], "search"), pc.is_valid(actions["search_id"]))
    searches = actions.filter(is_search).combine_chunks()
    if searches.num_rows == 0:
        return None
    # A search_id names one result list; a replayed search (new event_id, same list) counts once.
    _, first = np.unique(_codes(searches["search_id"]), return_index=True)
    searches = searches.take(np.sort(first))
    lists = searches["impressions"].chunk(0) if searches["impressions"].num_chunks else None
    if lists is None or len(pc.list_flatten(lists)) == 0:
        return None
    shown = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists)
    search_id = pc.take(searches["search_id"], parent)
    hotel_id = pc.struct_field(shown, "hotel_id")
    clicks = actions.filter(pc.equal(actions["action_type"], "click"))
    clicked_keys = pc.binary_join_element_wise(clicks["search_id"], clicks["hotel_id"], "\x1f")
    shown_keys = pc.binary_join_element_wise(search_id, hotel_id, "\x1f")
    return Impressions(
        list_ids=_codes(search_id),
        pair_ids=_codes(_pair_key(pc.take(searches["query"], parent), hotel_id)),
        positions=pc.struct_field(shown, "position").to_numpy(zero_copy_only=False).astype(np.int64),
        clicks=pc.is_in(shown_keys, value_set=pc.unique(clicked_keys)).to_numpy(zero_copy_only=False),
        randomized=_flags(pc.take(searches["ranking_randomized"], parent)),
        source="events",
    )


def _impressions_from_ltr(parquet_dir: Path) -> Impressions:
    table = read_ltr_examples(
        parquet_dir, ["search_id", "query", "hotel_id", "position", "label_kind", "ranking_randomized"]
    )
    return Impressions(
        list_ids=_codes(table["search_id"]),
        pair_ids=_codes(_pair_key(table["query"], table["hotel_id"])),
        positions=table["position"].to_numpy().astype(np.int64),
        clicks=pc.not_equal(table["label_kind"], IGNORED_KIND).to_numpy(),
        randomized=_flags(table["ranking_randomized"]),
        source="ltr_examples",
    )


def _flags(values: pa.Array | pa.ChunkedArray) -> BoolArray:
    """A nullable boolean column as a numpy mask; null (not recorded) counts as not randomized."""
    flags: BoolArray = pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(bool)
    return flags


def estimate_propensity(
    impressions: Impressions,
    method: Literal["randomized", "em"],
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    max_weight: float = DEFAULT_MAX_WEIGHT,
) -> PropensityTable:
    """A propensity table from ``impressions``: randomized lists only, or EM over all lists."""
    max_position = impressions.max_position
    if method == "randomized":
        mask = impressions.randomized
        if not mask.any():
            raise ReportError(
                "no randomized result lists (ranking_randomized) in the data; use --method em, "
                "or shuffle a share of the traffic"
            )
        theta = from_randomized(impressions.positions[mask], impressions.clicks[mask], prior_strength, max_position)
        return PropensityTable.create(theta, "randomized", int(mask.sum()), max_weight)
    result = em_position_bias(impressions.pair_ids, impressions.positions, impressions.clicks, max_position)
    return PropensityTable.create(result.theta, "em", impressions.positions.size, max_weight)


@dataclass(frozen=True)
class Report:
    """What ``write_report`` wrote."""

    index_path: Path
    plots: dict[str, Path]
    propensity: PropensityTable | None
    impressions_source: Source
    evaluation: Evaluation | None = None


def write_report(
    parquet_dir: Path,
    out_dir: Path,
    bootstrap_replicates: int = 200,
    seed: int = 0,
    quick_back_threshold_seconds: float | None = None,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    model: ModelArtifact | None = None,
) -> Report:
    """Write the plots, ``index.html`` and (when θ can be estimated) ``propensity.json`` into ``out_dir``.

    ``quick_back_threshold_seconds`` marks the dwell histogram; it defaults to the job's setting.
    With ``model``, the report adds its offline evaluation (``rankfeed.evaluate``) on the searches
    its training held out, with the θ estimated here; a ReportError when θ cannot be estimated.
    """
    threshold = quick_back_threshold_seconds
    if threshold is None:
        threshold = JobSettings.model_fields["quick_back_threshold_seconds"].default
    examples = read_ltr_examples(parquet_dir, ["search_id", "search_time", "position", "label_kind", "dwell_seconds"])
    impressions = load_impressions(parquet_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    theta = _theta_estimates(impressions, bootstrap_replicates, rng, prior_strength)
    propensity = theta.table
    if propensity is not None:
        propensity.save(out_dir / PROPENSITY_FILE)
    positions = examples["position"].to_numpy().astype(np.int64)
    kinds = examples["label_kind"].to_numpy(zero_copy_only=False).astype(str)
    dwell = examples["dwell_seconds"].to_numpy(zero_copy_only=False).astype(np.float64)
    plots = {
        "ctr_by_position": _plot_ctr(impressions, out_dir / "ctr_by_position.png"),
        "theta": _plot_theta(theta, impressions.source, out_dir / "theta.png"),
        "label_mix": _plot_label_mix(positions, kinds, out_dir / "label_mix.png"),
        "dwell": _plot_dwell(dwell, kinds, float(threshold), out_dir / "dwell.png"),
        "quick_back_by_position": _plot_quick_back(positions, kinds, out_dir / "quick_back_by_position.png"),
    }
    evaluation = None
    if model is not None:
        if propensity is None:
            raise ReportError("no click in the data: θ cannot be estimated, so the model cannot be evaluated")
        evaluation = evaluate_model(
            parquet_dir, model, propensity, replicates=max(bootstrap_replicates, 200), seed=seed
        )
        plots["offline_evaluation"] = _plot_evaluation(evaluation, out_dir / "offline_evaluation.png")
    index = out_dir / REPORT_FILE
    page = _html(examples, impressions, theta, plots, float(threshold), evaluation)
    index.write_text(page, encoding="utf-8")
    return Report(
        index_path=index,
        plots=plots,
        propensity=propensity,
        impressions_source=impressions.source,
        evaluation=evaluation,
    )


@dataclass(frozen=True)
class ThetaEstimates:
    """θ by each method that the data allows, with the bootstrap band of the randomized one."""

    positions: IntArray
    randomized: FloatArray | None
    band_low: FloatArray | None
    band_high: FloatArray | None
    em: FloatArray | None
    #: The table written to propensity.json: randomized when possible (unbiased by design), else EM.
    table: PropensityTable | None


def _theta_estimates(
    impressions: Impressions, replicates: int, rng: np.random.Generator, prior_strength: float
) -> ThetaEstimates:
    max_position = impressions.max_position
    positions = np.arange(1, max_position + 1, dtype=np.int64)
    randomized = band_low = band_high = None
    table = None
    mask = impressions.randomized
    if mask.any() and impressions.clicks[mask].any():
        table = estimate_propensity(impressions, "randomized", prior_strength)
        randomized = np.asarray(table.theta)
        draws = bootstrap_randomized(
            impressions.positions[mask],
            impressions.clicks[mask],
            impressions.list_ids[mask],
            max_position,
            replicates,
            rng,
            prior_strength,
        )
        band_low, band_high = np.quantile(draws, [BAND_TAIL, 1.0 - BAND_TAIL], axis=0)
    em = None
    if impressions.clicks.any():
        em_table = estimate_propensity(impressions, "em")
        em = np.asarray(em_table.theta)
        table = table or em_table
    return ThetaEstimates(positions, randomized, band_low, band_high, em, table)


def _rate_by_position(
    positions: IntArray, hits: BoolArray, max_position: int
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """(positions, shown count, rate, 95% normal half-width) for positions 1..max_position."""
    kept = positions <= max_position
    shown = np.bincount(positions[kept] - 1, minlength=max_position).astype(np.float64)
    hit = np.bincount(positions[kept] - 1, weights=hits[kept].astype(np.float64), minlength=max_position)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = hit / shown
        half_width = 1.96 * np.sqrt(rate * (1.0 - rate) / shown)
    return np.arange(1, max_position + 1, dtype=np.int64), shown, rate, half_width


def _colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, "tab:purple")


def _save(figure: Figure, path: Path, positions_on_x: bool = True) -> Path:
    """Write ``figure`` as a PNG; ``positions_on_x`` puts ticks on whole positions only."""
    if positions_on_x:
        for axes in figure.axes:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    return path


def _plot_ctr(impressions: Impressions, path: Path) -> Path:
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    for label, mask in (("randomized lists", impressions.randomized), ("ranked lists", ~impressions.randomized)):
        if mask.any():
            x, _, rate, error = _rate_by_position(
                impressions.positions[mask], impressions.clicks[mask], impressions.max_position
            )
            axes.errorbar(x, rate, yerr=error, marker="o", markersize=3, capsize=2, label=label)
    axes.set(
        xlabel="position", ylabel="click-through rate", title=f"Click-through rate by position ({impressions.source})"
    )
    axes.legend()
    return _save(figure, path)


def _plot_theta(theta: ThetaEstimates, source: Source, path: Path) -> Path:
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    x = theta.positions
    if theta.randomized is not None and theta.band_low is not None and theta.band_high is not None:
        axes.fill_between(x, theta.band_low, theta.band_high, alpha=0.3, label="randomized, 90% bootstrap band")
        axes.plot(x, theta.randomized, marker="o", markersize=3, label="randomized lists")
    if theta.em is not None:
        axes.plot(x, theta.em, marker="s", markersize=3, label="EM on all lists")
    axes.plot(x, default_theta(x.size), linestyle="--", color="grey", label="1/k reference")
    axes.set(xlabel="position k", ylabel="θ_k / θ_1", title=f"Examination propensity θ_k (from {source})")
    axes.legend()
    return _save(figure, path)


def _plot_label_mix(positions: IntArray, kinds: npt.NDArray[np.str_], path: Path) -> Path:
    figure = Figure(figsize=(8.5, 4))
    axes = figure.add_subplot()
    max_position = min(int(positions.max()), MAX_POSITIONS)
    x = np.arange(1, max_position + 1)
    kept = positions <= max_position
    totals = np.bincount(positions[kept] - 1, minlength=max_position).astype(np.float64)
    bottom = np.zeros(max_position)
    for kind in sorted(set(kinds.tolist())):
        count = np.bincount(positions[kept & (kinds == kind)] - 1, minlength=max_position)
        share = np.divide(count, totals, out=np.zeros(max_position), where=totals > 0)
        axes.bar(x, share, bottom=bottom, color=_colour(kind), label=f"{kind} ({int((kinds == kind).sum()):,})")
        bottom += share
    axes.set(xlabel="position", ylabel="share of examples", title="Label mix by position (ltr_examples)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def _plot_dwell(dwell: FloatArray, kinds: npt.NDArray[np.str_], threshold: float, path: Path) -> Path:
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    known = np.isfinite(dwell) & (dwell > 0)
    if known.any():
        low, high = np.log10(max(dwell[known].min(), 0.1)), np.log10(dwell[known].max() * 1.01)
        bins = np.logspace(low, high, 40).tolist()
        present = sorted(set(kinds[known].tolist()))
        axes.hist(
            [dwell[known & (kinds == kind)] for kind in present],
            bins=bins,
            stacked=True,
            color=[_colour(kind) for kind in present],
            label=present,
        )
        axes.set_xscale("log")
        axes.legend()
    else:
        axes.text(0.5, 0.5, "no dwell times recorded", ha="center", va="center", transform=axes.transAxes)
    axes.axvline(threshold, color="black", linestyle="--")
    axes.set(xlabel="dwell seconds (log scale)", ylabel="clicks", title=f"Dwell time; quick-back below {threshold:g} s")
    return _save(figure, path, positions_on_x=False)


def _plot_quick_back(positions: IntArray, kinds: npt.NDArray[np.str_], path: Path) -> Path:
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    clicked = kinds != IGNORED_KIND
    if clicked.any():
        max_position = min(int(positions[clicked].max()), MAX_POSITIONS)
        x, _, rate, error = _rate_by_position(positions[clicked], kinds[clicked] == QUICK_BACK_KIND, max_position)
        axes.errorbar(x, rate, yerr=error, marker="o", markersize=3, capsize=2)
    else:
        axes.text(0.5, 0.5, "no clicks", ha="center", va="center", transform=axes.transAxes)
    axes.set(xlabel="position", ylabel="quick-backs / clicks", title="Quick-back rate by position (ltr_examples)")
    return _save(figure, path)


_CAPTIONS = {
    "ctr_by_position": "Clicks over impressions per position, with 95% intervals. Ranked lists put better hotels "
    "on top, so their curve mixes position bias with relevance; randomized lists show position bias alone.",
    "theta": "θ_k/θ_1 from randomized lists (band: 5th–95th percentile of a bootstrap over result lists) and "
    "from EM on all lists (Wang et al. 2018). Agreement of the two is the check that the PBM fits.",
    "label_mix": "Share of each label per position among the LTR examples; the legend gives the totals.",
    "dwell": "Server-side dwell of the last click of each clicked example, by label; the dashed line is the "
    "quick-back threshold.",
    "quick_back_by_position": "Quick-backs among clicked examples per position, with 95% intervals. A rate that "
    "rises with position hints at clicks on deep results that disappoint.",
    "offline_evaluation": "Per search, on the searches the model's training held out: the logged order's observed "
    "clicks and bookings in the top k, and the model's, estimated by IPS and self-normalized IPS under the "
    "position-based model, with 95% bootstrap intervals over searches.",
}


def _plot_evaluation(evaluation: Evaluation, path: Path) -> Path:
    figure = Figure(figsize=(7, 3.5))
    axes_list = figure.subplots(1, len(evaluation.estimates))
    for axes, estimate in zip(np.atleast_1d(axes_list), evaluation.estimates, strict=True):
        bars = [("logged order", estimate.logged), ("model IPS", estimate.ips), ("model SNIPS", estimate.snips)]
        values = [interval.estimate for _, interval in bars]
        errors = [
            [interval.estimate - interval.low for _, interval in bars],
            [interval.high - interval.estimate for _, interval in bars],
        ]
        axes.bar([name for name, _ in bars], values, yerr=errors, capsize=4, color=["tab:gray", "tab:blue", "tab:cyan"])
        axes.set_title(f"{estimate.metric} per search")
        axes.tick_params(axis="x", labelsize=8)
    return _save(figure, path, positions_on_x=False)


def _html(
    examples: pa.Table,
    impressions: Impressions,
    theta: ThetaEstimates,
    plots: dict[str, Path],
    threshold: float,
    evaluation: Evaluation | None = None,
) -> str:
    times = examples["search_time"]
    first, last = pc.min(times).as_py(), pc.max(times).as_py()
    lists = len(pc.unique(examples["search_id"]))
    summary = [
        ("LTR examples", f"{examples.num_rows:,} in {lists:,} result lists"),
        ("search time", f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC"),
        ("impressions", f"{impressions.positions.size:,} from {impressions.source}/"),
        ("randomized impressions", f"{int(impressions.randomized.sum()):,}"),
        ("quick-back threshold", f"{threshold:g} s"),
    ]
    if theta.table is not None:
        summary.append(("propensity table", f'<a href="{PROPENSITY_FILE}">{html.escape(theta.table.version)}</a>'))
    warning = ""
    if impressions.source == "ltr_examples":
        warning = (
            '<p class="warn">θ comes from ltr_examples/, which holds only lists with a click and only rows down '
            "to the deepest click or scroll: deep positions are over-represented among clicks, so θ is biased "
            "upwards there. Keep the job's events/ dataset for an unbiased estimate.</p>"
        )
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{value}</td></tr>" for name, value in summary)
    sections = "".join(
        f'<section><h2>{html.escape(name.replace("_", " "))}</h2><img src="{html.escape(path.name)}" '
        f'alt="{html.escape(name)}"><p>{html.escape(_CAPTIONS[name])}</p></section>'
        for name, path in plots.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rankfeed feedback report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}th{{text-align:left;padding-right:1em}}
td,th{{padding:.2em .6em}}img{{max-width:100%}}.warn{{background:#fff3cd;padding:.6em}}</style></head>
<body><h1>rankfeed feedback report</h1>
<table>{rows}</table>{warning}
{sections}
{_theta_table(theta)}
{_evaluation_table(evaluation)}
</body></html>
"""


def _theta_table(theta: ThetaEstimates) -> str:
    columns: list[tuple[str, Any]] = [("randomized", theta.randomized), ("5%", theta.band_low)]
    columns += [("95%", theta.band_high), ("EM", theta.em)]
    present = [(name, values) for name, values in columns if values is not None]
    if not present:
        return "<p>No clicks: θ cannot be estimated.</p>"
    head = "".join(f"<th>{name}</th>" for name, _ in present)
    body = "".join(
        f"<tr><td>{k}</td>" + "".join(f"<td>{values[k - 1]:.3f}</td>" for _, values in present) + "</tr>"
        for k in theta.positions.tolist()
    )
    return f"<h2>θ by position</h2><table><tr><th>k</th>{head}</tr>{body}</table>"


def _evaluation_table(evaluation: Evaluation | None) -> str:
    if evaluation is None:
        return ""

    def cell(interval: Interval) -> str:
        return f"<td>{interval.estimate:.4f} [{interval.low:.4f}, {interval.high:.4f}]</td>"

    body = "".join(
        f"<tr><td>{html.escape(e.metric)}</td>{cell(e.logged)}{cell(e.ips)}{cell(e.snips)}</tr>"
        for e in evaluation.estimates
    )
    caption = (
        f"model {html.escape(evaluation.model_version)} on {evaluation.searches:,} held-out searches, θ "
        f"{html.escape(evaluation.propensity_version)}, weights cut at {evaluation.max_weight:g}"
    )
    return (
        f"<h2>offline evaluation</h2><p>{caption}</p><table><tr><th>metric</th><th>logged order</th>"
        f"<th>model: IPS</th><th>model: SNIPS</th></tr>{body}</table>"
    )

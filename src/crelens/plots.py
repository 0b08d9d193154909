"""Figure functions, one per figure kind; each writes a PNG atomically and closes its figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .atomic import atomic_path  # noqa: E402

SPLIT_COLOURS = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868", "ood": "#C44E52"}
DATASET_COLOURS = {"epi": "#8172B3", "mpra": "#4C72B0", "ood": "#C44E52"}
CLASS_COLOURS = {"enhancer": "#8172B3", "promoter": "#DA8BC3", "intergenic": "#8C8C8C"}


def save(fig, path, dpi: int = 150) -> None:
    suffix = "." + str(path).rsplit(".", 1)[-1]
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata={"Software": None} if suffix == ".png" else None)
    plt.close(fig)


def datasets_overview(epi: pd.DataFrame, mpra: pd.DataFrame, snv: pd.DataFrame, ood: pd.DataFrame, cells: list[str], path, sites: pd.DataFrame | None = None) -> None:
    """What a biologist checks before training: class sizes, GC confounds, activity ranges, test sets."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))

    ax = axes[0, 0]
    counts = epi.groupby(["split", "label"]).size().unstack(fill_value=0).reindex(["train", "val", "test"])
    counts.plot.bar(ax=ax, color=[CLASS_COLOURS[c] for c in counts.columns], rot=0)
    ax.set(title="EPI sequences per split and class", xlabel="", ylabel="sequences")

    ax = axes[0, 1]
    bins = np.linspace(0.2, 0.85, 40)
    for label, group in epi.groupby("label"):
        ax.hist(group.gc, bins=bins, alpha=0.55, label=label, color=CLASS_COLOURS[label], density=True)
    ax.set(title="GC content per EPI class (a confound to beat)", xlabel="GC fraction", ylabel="density")
    ax.legend()

    ax = axes[0, 2]
    bins = np.linspace(np.nanmin(mpra[cells].to_numpy()), np.nanmax(mpra[cells].to_numpy()), 40)
    for cell in cells:
        ax.hist(mpra[cell].dropna(), bins=bins, histtype="step", linewidth=1.6, label=cell)
    ax.set(title=f"MPRA activity ({len(mpra)} sequences)", xlabel="log2 activity", ylabel="sequences")
    ax.legend()

    ax = axes[1, 0]
    if len(cells) >= 2:
        a, b = cells[0], cells[1]
        for split, group in mpra.groupby("split"):
            ax.scatter(group[a], group[b], s=4, alpha=0.5, color=SPLIT_COLOURS[split], label=split)
        r = mpra[[a, b]].corr().iloc[0, 1]
        ax.set(title=f"Cell-type specificity: {a} vs {b} (r = {r:.2f})", xlabel=a, ylabel=b)
        ax.legend(markerscale=3)
    else:
        ax.axis("off")

    ax = axes[1, 1]
    cell = cells[0]
    if len(snv):
        if "hits_motif" in snv and snv.hits_motif.notna().any():
            for hit, group in snv.groupby("hits_motif"):
                ax.hist(group[f"{cell}_delta"], bins=30, alpha=0.6, label="variant hits a planted motif" if hit else "variant misses motifs")
            ax.legend()
        else:
            ax.hist(snv[f"{cell}_delta"], bins=30)
    ax.set(title=f"SNV pairs: measured Δ activity in {cell} (n = {len(snv)})", xlabel="alt − ref (log2)", ylabel="pairs")

    ax = axes[1, 2]
    if sites is not None and len(sites):
        table = sites.groupby(["motif_name", "dataset"]).size().unstack(fill_value=0)
        table = table.loc[table.sum(axis=1).sort_values().index]
        table.plot.barh(ax=ax, stacked=True, color=[DATASET_COLOURS.get(d, "#999999") for d in table.columns])
        ax.set(title="Planted motif instances inside data-set sequences", xlabel="instances", ylabel="")
    else:
        gc_id = mpra["insert"].map(lambda s: (s.count("G") + s.count("C")) / len(s))
        gc_ood = ood["insert"].map(lambda s: (s.count("G") + s.count("C")) / len(s)) if len(ood) else pd.Series(dtype=float)
        ax.hist(gc_id, bins=30, alpha=0.6, density=True, label="MPRA (genomic)")
        if len(gc_ood):
            ax.hist(gc_ood, bins=30, alpha=0.6, density=True, label="OOD")
        ax.set(title="Insert GC: in-distribution vs OOD", xlabel="GC fraction")
        ax.legend()
    fig.tight_layout()
    save(fig, path)


def loss_curve(curve: pd.DataFrame, path) -> None:
    """Masked-LM loss per step (training, smoothed) and on held-out validation windows."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(curve.step, curve.train_loss, color="#BBBBBB", linewidth=0.8, label="train (per step)")
    smooth = curve.train_loss.rolling(max(1, len(curve) // 20), min_periods=1).mean()
    ax.plot(curve.step, smooth, color="#4C72B0", label="train (moving mean)")
    val = curve.dropna(subset=["val_loss"])
    ax.plot(val.step, val.val_loss, "o-", color="#C44E52", label="validation chromosomes")
    ax.axhline(np.log(4), linestyle=":", color="black", linewidth=0.8, label="uniform guess (ln 4)")
    ax.set(xlabel="step", ylabel="masked-LM cross-entropy (nats)", title="Caduceus pretraining")
    ax.legend()
    fig.tight_layout()
    save(fig, path)


def _model_colour(model: str) -> str:
    if model.startswith("head_"):
        return "#4C72B0"
    if model == "malinois":
        return "#C44E52"
    if model == "noise_ceiling":
        return "#333333"
    return "#55A868"  # attention baselines and the joint pipeline


def comparison_bars(table: pd.DataFrame, panels: list[tuple[str, str, str]], path) -> None:
    """One panel per (task, test_set, metric): every model's value with its 95% CI.

    Blue: heads on the frozen encoder; red: Malinois; green: seed baselines trained from scratch;
    the dashed line is the noise ceiling (synthetic data), the best any model can reach.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 0.32 * table["model"].nunique() + 1.8), squeeze=False)
    for ax, (task, test_set, metric) in zip(axes[0], panels):
        rows = table[(table.task == task) & (table.test_set == test_set) & (table.metric == metric)]
        ceiling = rows[rows.model == "noise_ceiling"]
        rows = rows[rows.model != "noise_ceiling"].sort_values("value")
        y = np.arange(len(rows))
        err = np.vstack([rows.value - rows.ci_low, rows.ci_high - rows.value]).clip(min=0)
        ax.barh(y, rows.value, xerr=err, color=[_model_colour(m) for m in rows.model], capsize=2, alpha=0.9)
        ax.set_yticks(y, rows.model, fontsize=8)
        if len(ceiling):
            ax.axvline(float(ceiling.value.iloc[0]), color="black", linestyle="--", linewidth=1, label="noise ceiling")
            ax.legend(loc="lower right", fontsize=7)
        ax.set(xlabel=metric.replace("_", " "), title=f"{task} · {test_set}")
    fig.tight_layout()
    save(fig, path)


def prediction_scatter(frames: dict[str, pd.DataFrame], cells: list[str], path) -> None:
    """Predicted vs measured activity on the ID test set, one row per model, one column per cell."""
    fig, axes = plt.subplots(len(frames), len(cells), figsize=(3.6 * len(cells), 3.4 * len(frames)), squeeze=False)
    for r, (model, frame) in enumerate(frames.items()):
        frame = frame[frame.test_set == "id"]
        for c, cell in enumerate(cells):
            ax = axes[r, c]
            x, y = frame[f"measured_{cell}"], frame[f"pred_{cell}"]
            ax.scatter(x, y, s=5, alpha=0.5, color=_model_colour(model), linewidths=0)
            ok = x.notna() & y.notna()
            r_value = float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 else float("nan")
            lo, hi = np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])
            ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.6, linestyle=":")
            ax.set(title=f"{model} · {cell}  r = {r_value:.3f}", xlabel="measured log2 activity", ylabel="predicted")
    fig.tight_layout()
    save(fig, path)


def training_curves(curves: dict[tuple[str, str], pd.DataFrame], path) -> None:
    """Validation metric per epoch for every trained model, one panel per task (joint: own panel)."""
    tasks = sorted({task for task, _ in curves})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for (t, model), curve in sorted(curves.items()):
            if t != task:
                continue
            ax.plot(curve.epoch, curve.val_metric, marker=".", label=model, color=_model_colour(model), alpha=0.8)
            best = curve.val_metric.idxmax() if curve.val_metric.notna().any() else None
            if best is not None:
                ax.plot(curve.epoch[best], curve.val_metric[best], "k*", markersize=6)
        ylabel = {"mpra": "validation mean Pearson", "epi": "validation macro-AUROC"}.get(task, "mean validation metric")
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{task} (★ = restored best epoch)")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save(fig, path)


def confusion_matrices(frames: dict[str, pd.DataFrame], path) -> None:
    """Row-normalised EPI confusion matrices (true class × predicted class) per model."""
    n = len(frames)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.1 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (model, frame) in zip(axes.flat, frames.items()):
        classes = [c[len("prob_"):] for c in frame.columns if c.startswith("prob_")]
        truth = frame.label_id.to_numpy()
        predicted = frame[[f"prob_{c}" for c in classes]].to_numpy().argmax(1)
        matrix = np.zeros((len(classes), len(classes)))
        np.add.at(matrix, (truth, predicted), 1)
        matrix /= matrix.sum(1, keepdims=True).clip(min=1)
        ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_title(f"{model} (acc {np.mean(truth == predicted):.2f})", fontsize=8)
    fig.supxlabel("predicted class")
    fig.supylabel("true class")
    fig.tight_layout()
    save(fig, path)


METHOD_COLOURS = {"lrp": "#C44E52", "grad_x_input": "#4C72B0", "integrated_gradients": "#55A868",
                  "smoothgrad": "#8172B3", "ism": "#DD8452", "random": "#8C8C8C"}


def conservation_scatter(frame: pd.DataFrame, path) -> None:
    """Σ relevance vs the explained output (MambaLRP paper's conservation plot), per task/model.

    Left: nucleotides only (what a logo shows); right: nucleotides + the itemised bias/ε share,
    which must sit on the identity line.
    """
    absorbed = frame.filter(like="absorbed_").sum(axis=1)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, (y, title) in zip(axes, [(frame.relevance_sum, "Σ nucleotide relevance"),
                                     (frame.relevance_sum + absorbed, "Σ relevance + absorbed (biases, ε)")]):
        for (task, model), group in frame.assign(y=y).groupby(["task", "model"]):
            ax.scatter(group.explained, group.y, s=8, alpha=0.6, linewidths=0, label=f"{task} · {model}")
        lo, hi = float(np.nanmin(frame.explained)), float(np.nanmax(frame.explained))
        ax.plot([lo, hi], [lo, hi], "k:", linewidth=0.8)
        ax.set(xlabel="explained output f(x)", ylabel=title)
    axes[1].set_title(f"max relative error {frame.rel_err.max():.1e}", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def perturbation_curves(curves: pd.DataFrame, path) -> None:
    """Mean model output as the most (MoRF) / least (LeRF) relevant nucleotides are replaced by N."""
    orders = [("morf", "most relevant first (MoRF) — steeper is better"), ("lerf", "least relevant first (LeRF) — flatter is better")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    mean = curves.groupby(["method", "order", "fraction"], sort=False)["value"].mean().reset_index()
    for ax, (order, title) in zip(axes, orders):
        for method, group in mean[mean.order == order].groupby("method", sort=False):
            ax.plot(group.fraction, group.value, marker=".", label=method, color=METHOD_COLOURS.get(method))
        ax.set(title=title, xlabel="share of nucleotides removed", ylabel="mean model output")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def faithfulness_bars(table: pd.DataFrame, path) -> None:
    """ΔA^F and (synthetic) motif AUROC/AUPRC per method with 95% CIs, one row per task · model."""
    metrics = [m for m in ("delta_af", "motif_auroc", "motif_auprc") if m in set(table.metric)]
    groups = list(table.groupby(["task", "model"], sort=False))
    fig, axes = plt.subplots(len(groups), len(metrics), figsize=(4 * len(metrics), 2.6 * len(groups)), squeeze=False)
    for r, ((task, model), group) in enumerate(groups):
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            rows = group[group.metric == metric]
            y = np.arange(len(rows))
            err = np.vstack([rows.value - rows.ci_low, rows.ci_high - rows.value]).clip(min=0)
            ax.barh(y, rows.value, xerr=err, color=[METHOD_COLOURS.get(m, "#333333") for m in rows.method], capsize=2)
            ax.set_yticks(y, rows.method, fontsize=7)
            if metric == "motif_auroc":
                ax.axvline(0.5, color="black", linestyle=":", linewidth=0.8)
            ax.set_title(f"{task} · {model}: {metric.replace('_', ' ')}", fontsize=9)
    fig.tight_layout()
    save(fig, path)


def attribution_logos(examples: list[dict], path) -> None:
    """Attribution logos of example sequences: one row per (sequence, method), window around the
    strongest signal; planted motifs (synthetic truth) shaded.

    examples: dicts with seq_id, method, sequence (window), relevance (window,), start (window
    offset), motifs [(start, end, name)] in window coordinates, output, prediction.
    """
    import logomaker

    fig, axes = plt.subplots(len(examples), 1, figsize=(14, 1.6 * len(examples)), squeeze=False)
    for ax, ex in zip(axes[:, 0], examples):
        matrix = pd.DataFrame(0.0, index=range(len(ex["sequence"])), columns=list("ACGT"))
        for i, base in enumerate(ex["sequence"].upper()):
            if base in "ACGT":
                matrix.loc[i, base] = ex["relevance"][i]
        logomaker.Logo(matrix, ax=ax, color_scheme="classic")
        for start, end, name in ex["motifs"]:
            ax.axvspan(start - 0.5, end - 0.5, color="#FFD54F", alpha=0.35, linewidth=0)
            ax.text((start + end) / 2, ax.get_ylim()[1], name, ha="center", va="top", fontsize=6)
        ax.axhline(0, color="black", linewidth=0.4)
        ax.set_xticks([])
        ax.set_ylabel(ex["method"], fontsize=7)
        ax.set_title(f"{ex['seq_id']} · {ex['output']} (prediction {ex['prediction']:.2f}), "
                     f"positions {ex['start']}–{ex['start'] + len(ex['sequence'])}", fontsize=8, loc="left")
    fig.tight_layout()
    save(fig, path)


def enrichment_volcano(families: pd.DataFrame, qvalue: float, path) -> None:
    """log2 odds ratio vs −log10 q of every TF family, one panel per group; significant labelled."""
    groups = list(pd.unique(families.group)) or ["(no seqlets)"]
    cols = min(3, len(groups))
    rows = (len(groups) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    for ax, group in zip(axes.flat, groups):
        rows_ = families[families.group == group]
        odds = np.log2(rows_.odds_ratio.clip(lower=1 / 64, upper=64).replace(0, 1 / 64))
        score = -np.log10(rows_.qvalue.clip(lower=1e-300))
        significant = rows_.qvalue < qvalue
        ax.scatter(odds[~significant], score[~significant], s=8, color="#BBBBBB", linewidths=0)
        ax.scatter(odds[significant], score[significant], s=14, color="#C44E52", linewidths=0)
        # labels at the same height stacked downwards one line apart and turned inwards on the
        # right, so that families with equal counts (equal q) stay readable inside the panel
        labelled: dict[float, int] = {}  # labels so far at each height
        for row in rows_[significant].nsmallest(6, "qvalue").itertuples():
            point = (np.log2(np.clip(row.odds_ratio, 1 / 64, 64)), -np.log10(max(row.qvalue, 1e-300)))
            height = round(point[1], 1)
            stacked = labelled.get(height, 0)
            labelled[height] = stacked + 1
            right = point[0] > 0
            ax.annotate(str(row.family)[:28], point, fontsize=6, xytext=(-3 if right else 3, -8 * stacked),
                        textcoords="offset points", ha="right" if right else "left", va="top")
        ax.set_xlim(-7, 7)
        ax.axhline(-np.log10(qvalue), color="black", linestyle=":", linewidth=0.8)
        ax.set(title=f"{group}: {int(significant.sum())} families q < {qvalue}", xlabel="log2 odds ratio (seqlets vs background)",
               ylabel="−log10 q")
    fig.tight_layout()
    save(fig, path)


def seqlet_positions(seqlets: pd.DataFrame, path) -> None:
    """Where seqlets sit along the sequence, per group (MPRA: the insert is the central 200 nt)."""
    groups = list(pd.unique(seqlets.group))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    if not groups:
        ax.text(0.5, 0.5, "no seqlets", ha="center")
    for group in groups:
        rows = seqlets[seqlets.group == group]
        centre = (rows.start + rows.end) / 2 / rows.length
        ax.hist(centre, bins=40, range=(0, 1), histtype="step", linewidth=1.2, label=f"{group} ({len(rows)})")
    ax.set(xlabel="seqlet centre (fraction of the sequence)", ylabel="seqlets", title="Positional distribution of seqlets")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def _information_logo(ax, probs: np.ndarray, title: str) -> None:
    """Information-content logo of a (w, 4) probability matrix."""
    import logomaker

    probs = np.clip(probs, 1e-9, None)
    probs = probs / probs.sum(1, keepdims=True)
    info = probs * (2 + (probs * np.log2(probs)).sum(1, keepdims=True))
    logomaker.Logo(pd.DataFrame(info, columns=list("ACGT")), ax=ax, color_scheme="classic")
    ax.set_ylim(0, 2)
    ax.set_xticks([])
    ax.set_title(title, fontsize=7)


def motif_logos(table: pd.DataFrame, matrices: dict, meta: pd.DataFrame, matches: pd.DataFrame,
                patterns: dict, qvalue: float, path, top: int = 6) -> None:
    """The most enriched JASPAR families (best profile's logo) next to the de novo pattern matched
    to that family, if TF-MoDISco found one."""
    motifs = table[(table.level == "motif") & (table.qvalue < qvalue)].sort_values("qvalue")
    best = motifs.drop_duplicates("family").head(top)
    key_of = dict(zip(meta.motif_id, meta.key))
    by_family = {}
    if len(matches) and "family0" in matches:
        for row in matches.itertuples():
            by_family.setdefault(row.family0, row)
    n = max(1, len(best))
    fig, axes = plt.subplots(n, 2, figsize=(8, 1.5 * n), squeeze=False)
    if best.empty:
        for ax in axes.flat:
            ax.axis("off")
        axes[0, 0].text(0, 0.5, f"no JASPAR motif enriched at q < {qvalue}", fontsize=9)
    for (left, right), row in zip(axes, best.itertuples()):
        _information_logo(left, np.asarray(matrices[key_of[row.motif_id]]).T,
                          f"{row.motif_id} {row.motif_name} ({row.family}) · {row.group} · q={row.qvalue:.1e}")
        match = by_family.get(row.family)
        if match is not None and match.pattern in patterns:
            _information_logo(right, patterns[match.pattern], f"de novo {match.pattern} ({match.n_seqlets} seqlets) · "
                                                              f"TOMTOM p={float(match.pval0):.1e}")
        else:
            right.axis("off")
            right.text(0.05, 0.5, "no de novo pattern matched to this family", fontsize=7)
    fig.tight_layout()
    save(fig, path)

"""A small human-like genome with real JASPAR motifs planted, written in the real sources' formats.

Why: every later stage (encoder, heads, attribution, motif enrichment) needs a world whose
answer is known. The simulator writes the same files the download path produces (genome
FASTA + .fai, EPDnew BED, SCREEN cCRE BED, lentiMPRA tables) plus the truth: every planted
motif instance and the noise-free activity of every MPRA sequence.

The world, briefly (all numbers in `config.data.synthetic`):
- Chromosomes chr1…chr22, chrX with hg38's relative sizes, laid out in slots. Background is
  i.i.d. sequence with slot-varying GC and CpG depletion; assembly gaps are runs of N;
  diverged copies of a few repeat families are soft-masked (lower case).
- Promoters sit in CpG islands and carry promoter-program motifs (TATA box oriented with the
  gene); enhancers carry motifs of one cell-type program (K562, HepG2, WTC11) or only the
  general enhancer motifs; insulators carry CTCF, which has no effect on activity.
- MPRA activity (log2) of a 200-bp insert tested in one orientation, per cell type c:
      a_c = baseline_c + Σ_k effect[m_k, c] · q_k · position(d_k) · orientation(k)
                       + Σ_pairs synergy[a, b, c] · Q_a · Q_b
  with q_k ∈ [0, 1] the PWM match strength of instance k in the actual sequence, d_k its
  distance from the insert centre, Q_m the strongest instance of motif m, and orientation(k)
  < 1 only for orientation-sensitive motifs planted against the tested orientation.
  Measured = a_c + N(0, noise_sd_c²) per orientation; the table's averaged_expression is the
  mean of both orientations, so the noise ceiling is sqrt(var(a)/(var(a) + noise_sd²/2)).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crelens.atomic import atomic_open
from crelens.data.formats import PLANTED_MOTIF_COLUMNS, read_sizes, write_fasta
from crelens.data.jaspar import Motif, jaspar_motifs
from crelens.errors import InputError
from crelens.names import SYNTHETIC_OUTPUTS, mpra_file
from crelens.sequences import LENTIMPRA_ADAPTOR_3, LENTIMPRA_ADAPTOR_5
from crelens.tables import write_table

log = logging.getLogger(__name__)

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_COMP = np.array([3, 2, 1, 0])  # index complement in A, C, G, T order
GAP = 4  # code for N in the integer genome


@dataclass
class PlantedMotif:
    motif: Motif
    program: str
    effect: dict[str, float]
    orientation_sensitive: bool

    def __post_init__(self):
        self.pwm = self.motif.log_odds()
        self.best = self.pwm.max(axis=1).sum()
        self.worst = self.pwm.min(axis=1).sum()

    def strength(self, codes: np.ndarray, strand: str) -> float:
        """Match strength in [0, 1] of the site `codes` (genomic + strand) read on `strand`."""
        site = codes if strand == "+" else _COMP[codes[::-1]]
        if np.any(site >= 4):
            return 0.0
        score = self.pwm[np.arange(len(site)), site].sum()
        return float(np.clip((score - self.worst) / (self.best - self.worst), 0.0, 1.0))


@dataclass
class Instance:
    """A planted motif: 0-based genomic (or sequence) start, strand, owning element."""

    chrom: str
    start: int
    strand: str
    name: str  # motif name in the design
    element: str
    element_type: str


class World:
    """The simulated genome being built: integer-coded chromosomes plus everything planted."""

    def __init__(self, cfg: dict, cells: list[str], seed: int, chrom_sizes: dict[str, int], chromosomes: list[str]):
        self.cfg = cfg
        self.design = cfg["design"]
        self.cells = cells
        self.rng = np.random.default_rng(seed)
        self.chromosomes = chromosomes
        self.real_sizes = chrom_sizes
        self.motifs = load_design(self.design, cfg["jaspar_release"], cells)
        self.by_program: dict[str, list[str]] = {}
        for name, pm in self.motifs.items():
            self.by_program.setdefault(pm.program, []).append(name)
        self.seqs: dict[str, np.ndarray] = {}
        self.lower: dict[str, np.ndarray] = {}
        self.instances: list[Instance] = []
        self.promoters: list[dict] = []
        self.ccres: list[dict] = []
        self.background: list[tuple[str, int]] = []  # (chrom, slot centre) of empty slots

    # ------------------------------------------------------------------ background sequence

    def random_bases(self, n: int, gc: float) -> np.ndarray:
        p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
        return self.rng.choice(4, size=n, p=p).astype(np.int8)

    def build_chromosomes(self) -> None:
        slot = self.cfg["slot_bp"]
        shares = self.cfg["slot_shares"]
        kinds = ["promoter", "enhancer", "other_ccre", "repeat", "background"]
        probs = [shares["promoter"], shares["enhancer"], shares["other_ccre"], self.cfg["repeat_share"]]
        probs.append(1.0 - sum(probs))
        if probs[-1] < 0:
            raise InputError(None, "config data.synthetic: slot_shares + repeat_share exceed 1")
        families = [self.random_bases(n, 0.45) for n in (300, 900, 150)]  # Alu-, L1-, MIR-like
        for chrom in self.chromosomes:
            n_slots = max(8, int(round(self.real_sizes[chrom] * self.cfg["genome_scale"] / slot)))
            gcs = np.clip(self.rng.normal(self.cfg["gc"], self.cfg["gc_sd"], n_slots), 0.3, 0.6)
            seq = np.concatenate([self.random_bases(slot, g) for g in gcs])
            lower = np.zeros(len(seq), dtype=bool)
            island = np.zeros(len(seq), dtype=bool)
            # assembly gaps: telomeres (first and last slot) and a centromere slot at 40%
            gap_slots = {0, n_slots - 1, int(n_slots * 0.4)}
            for s in gap_slots:
                seq[s * slot : (s + 1) * slot] = GAP
            self.seqs[chrom], self.lower[chrom] = seq, lower
            layout = self.rng.choice(len(kinds), size=n_slots, p=probs)
            for s in range(n_slots):
                if s in gap_slots or (s - 1) in gap_slots or (s + 1) in gap_slots:
                    continue  # keep elements away from gaps so every window is N-free
                centre = s * slot + slot // 2 + int(self.rng.integers(-slot // 8, slot // 8 + 1))
                kind = kinds[layout[s]]
                if kind == "promoter":
                    self.add_promoter(chrom, centre, island)
                elif kind == "enhancer":
                    self.add_enhancer(chrom, centre)
                elif kind == "other_ccre":
                    self.add_other_ccre(chrom, centre)
                elif kind == "repeat":
                    self.add_repeat(chrom, s * slot, slot, families)
                else:
                    self.background.append((chrom, s * slot + slot // 2))
            self.deplete_cpg(chrom, island)
        self.classify_enhancers()

    def deplete_cpg(self, chrom: str, island: np.ndarray) -> None:
        """Mutate most CpGs outside islands (C→T or G→A), as methylation-driven deamination does.

        Planted motif sites are protected so their recorded strength stays true.
        """
        seq = self.seqs[chrom]
        protected = island.copy()
        for inst in self.instances:
            if inst.chrom == chrom:
                protected[inst.start : inst.start + self.motifs[inst.name].motif.length] = True
        cpg = np.flatnonzero((seq[:-1] == 1) & (seq[1:] == 2) & ~protected[:-1] & ~protected[1:])
        mutate = cpg[self.rng.random(len(cpg)) > self.cfg["cpg_retention"]]
        on_c = self.rng.random(len(mutate)) < 0.5
        seq[mutate[on_c]] = 3  # C -> T
        seq[mutate[~on_c] + 1] = 0  # G -> A

    def add_repeat(self, chrom: str, slot_start: int, slot: int, families: list[np.ndarray]) -> None:
        family = families[int(self.rng.integers(len(families)))]
        copy = family.copy()
        divergence = self.rng.uniform(0.02, 0.15)
        hits = self.rng.random(len(copy)) < divergence
        copy[hits] = (copy[hits] + self.rng.integers(1, 4, hits.sum())) % 4
        offset = slot_start + int(self.rng.integers(0, slot - len(copy)))
        self.seqs[chrom][offset : offset + len(copy)] = copy
        self.lower[chrom][offset : offset + len(copy)] = True

    # ------------------------------------------------------------------------- planting

    def sample_site(self, name: str) -> np.ndarray:
        """A site drawn from the motif's probabilities (real sites vary too), on its own strand.

        `design.site_sharpness` s draws each position from p^s / Σ p^s: 1 samples the JASPAR
        matrix as it is; above 1 sites lie closer to the consensus (stronger matches).
        """
        probs = self.motifs[name].motif.probs
        sharpness = self.design.get("site_sharpness", 1.0)
        if sharpness != 1.0:
            probs = probs**sharpness
            probs = probs / probs.sum(axis=1, keepdims=True)
        u = self.rng.random(len(probs))[:, None]
        return (u > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, 3).astype(np.int8)

    def plant(
        self,
        seq: np.ndarray,
        taken: list[tuple[int, int]],
        lo: int,
        hi: int,
        name: str,
        strand: str | None = None,
        at: int | None = None,
    ) -> tuple[int, str] | None:
        """Write a sampled site into seq[lo:hi] without overlapping `taken`; return (start, strand)."""
        width = self.motifs[name].motif.length
        for _ in range(50):
            start = at if at is not None else int(self.rng.integers(lo, hi - width + 1))
            if all(start + width <= a or start >= b for a, b in taken):
                break
            if at is not None:
                return None
        else:
            return None
        strand = strand or ("+" if self.rng.random() < 0.5 else "-")
        site = self.sample_site(name)
        seq[start : start + width] = site if strand == "+" else _COMP[site[::-1]]
        taken.append((start, start + width))
        return start, strand

    def plant_element(
        self, chrom: str, names: list[str], lo: int, hi: int, element: str, element_type: str, fixed: dict | None = None
    ) -> None:
        seq = self.seqs[chrom]
        taken: list[tuple[int, int]] = []
        for name, (at, strand) in (fixed or {}).items():
            placed = self.plant(seq, taken, lo, hi, name, strand=strand, at=at)
            if placed:
                self.instances.append(Instance(chrom, placed[0], placed[1], name, element, element_type))
        for name in names:
            placed = self.plant(seq, taken, lo, hi, name)
            if placed:
                self.instances.append(Instance(chrom, placed[0], placed[1], name, element, element_type))

    def add_promoter(self, chrom: str, tss: int, island: np.ndarray) -> None:
        strand = "+" if self.rng.random() < 0.5 else "-"
        name = f"SYN{len(self.promoters) + 1:05d}_1"
        if self.rng.random() < self.cfg["cpg_island_share"]:  # most human promoters are CGI promoters
            lo, hi = tss - 500, tss + 500
            self.seqs[chrom][lo:hi] = self.random_bases(hi - lo, self.cfg["cpg_island_gc"])
            island[lo:hi] = True
        # promoter motifs in [-150, +40] of the TSS on the gene's strand; TATA at -31 when present
        up, down = (tss - 150, tss + 40) if strand == "+" else (tss - 40, tss + 150)
        names = [n for n in self.by_program["promoter"] if n != "TBP"]
        k = int(self.rng.integers(self.design["motifs_per_promoter"][0], self.design["motifs_per_promoter"][1] + 1))
        chosen = list(self.rng.choice(names, size=min(k, len(names)), replace=False))
        fixed = {}
        if "TBP" in self.motifs and self.rng.random() < 0.6:
            width = self.motifs["TBP"].motif.length
            fixed["TBP"] = (tss - 31, "+") if strand == "+" else (tss + 31 - width, "-")
        self.plant_element(chrom, chosen, up, down, name, "promoter", fixed)
        self.promoters.append({"chrom": chrom, "tss": tss, "strand": strand, "name": name})
        self.ccres.append({"chrom": chrom, "start": tss - 150, "end": tss + 150, "ccre_class": "PLS", "element": name})

    def add_enhancer(self, chrom: str, centre: int) -> None:
        programs = dict(sorted(self.design["enhancer_programs"].items()))  # key order must not matter
        program = str(self.rng.choice(list(programs), p=np.array(list(programs.values())) / sum(programs.values())))
        k = int(self.rng.integers(self.design["motifs_per_enhancer"][0], self.design["motifs_per_enhancer"][1] + 1))
        general = self.by_program.get("enhancer", [])
        specific = self.by_program.get(program, []) if program != "shared" else []
        names: list[str] = []
        if specific and self.rng.random() < self.design["pair_share"]:
            for pair in self.design["interactions"]:
                if all(m in specific for m in pair["motifs"]):
                    names.extend(pair["motifs"])
                    break
        while len(names) < k:
            pool = specific if specific and self.rng.random() < 0.6 else general
            names.append(str(self.rng.choice(pool)))
        if "CTCF" in self.motifs and self.rng.random() < self.design["ctcf_in_enhancer_share"]:
            names.append("CTCF")
        half = int(self.rng.integers(75, 176))
        element = f"ENH{len(self.ccres) + 1:06d}"
        # motifs inside the central 180 bp so a 200-bp insert centred on the element holds them
        self.plant_element(chrom, names, centre - 90, centre + 90, element, f"enhancer:{program}")
        self.ccres.append(
            {
                "chrom": chrom,
                "start": centre - half,
                "end": centre + half,
                "ccre_class": "ELS",
                "element": element,
                "program": program,
            }
        )

    def add_other_ccre(self, chrom: str, centre: int) -> None:
        classes = ["CA-CTCF", "CA", "CA-H3K4me3", "CA-TF", "TF"]
        cls = str(self.rng.choice(classes, p=[0.4, 0.2, 0.1, 0.15, 0.15]))
        element = f"CRE{len(self.ccres) + 1:06d}"
        active = [n for n, pm in self.motifs.items() if pm.program != "insulator"]
        if cls == "CA-CTCF" and "CTCF" in self.motifs:
            names = ["CTCF"] * int(self.rng.integers(1, 3))
        elif cls in ("CA-TF", "TF"):
            names = list(self.rng.choice(active, size=int(self.rng.integers(1, 3))))
        else:
            names = []
        self.plant_element(chrom, names, centre - 90, centre + 90, element, cls)
        half = int(self.rng.integers(75, 176))
        self.ccres.append(
            {"chrom": chrom, "start": centre - half, "end": centre + half, "ccre_class": cls, "element": element}
        )

    def classify_enhancers(self) -> None:
        """SCREEN's rule: an enhancer-like cCRE within 2 kb of a TSS is proximal (pELS), else distal."""
        tss = {}
        for p in self.promoters:
            tss.setdefault(p["chrom"], []).append(p["tss"])
        for c in self.ccres:
            if c["ccre_class"] == "ELS":
                near = np.array(tss.get(c["chrom"], [10**12]))
                mid = (c["start"] + c["end"]) // 2
                c["ccre_class"] = "pELS" if np.min(np.abs(near - mid)) <= 2000 else "dELS"

    # ------------------------------------------------------------------------- activity

    def activity(self, codes: np.ndarray, sites: list[tuple[str, int, str]], orientation: str) -> dict[str, float]:
        """True log2 activity of an insert (codes on its + strand) tested in `orientation`.

        `sites` are (motif name, start within the insert, strand relative to the insert).
        """
        design = self.design
        length = len(codes)
        totals = {c: design["baseline"][c] for c in self.cells}
        best: dict[str, float] = {}
        for name, start, strand in sites:
            pm = self.motifs[name]
            width = pm.motif.length
            q = pm.strength(codes[start : start + width], strand)
            best[name] = max(best.get(name, 0.0), q)
            distance = abs(start + width / 2 - length / 2)
            position = design["position_floor"] + (1 - design["position_floor"]) * np.exp(
                -0.5 * (distance / design["position_scale_bp"]) ** 2
            )
            tested_strand = strand if orientation == "+" else ("-" if strand == "+" else "+")
            orient = design["orientation_penalty"] if (pm.orientation_sensitive and tested_strand == "-") else 1.0
            for c in self.cells:
                totals[c] += pm.effect[c] * q * position * orient
        for pair in design["interactions"]:
            a, b = pair["motifs"]
            for c in self.cells:
                totals[c] += pair["effect"][c] * best.get(a, 0.0) * best.get(b, 0.0)
        return totals


def load_design(design: dict, release: str, cells: list[str]) -> dict[str, PlantedMotif]:
    """Resolve the configured motif programs against JASPAR; names must match the IDs."""
    entries = design["motifs"]
    found = {m.id: m for m in jaspar_motifs(release, [e["id"] for e in entries])}
    planted = {}
    for entry in entries:
        motif = found[entry["id"]]
        if motif.name.upper() != entry["name"].upper():
            raise InputError(
                None, f"config design motif {entry['id']} is {motif.name} in {release}, not {entry['name']}"
            )
        missing = [c for c in cells if c not in entry["effect"]]
        if missing:
            raise InputError(None, f"config design motif {entry['name']} has no effect for cells {missing}")
        planted[entry["name"]] = PlantedMotif(
            motif, entry["program"], entry["effect"], entry.get("orientation_sensitive", False)
        )
    for pair in design["interactions"]:
        unknown = [m for m in pair["motifs"] if m not in planted]
        if unknown or len(pair["motifs"]) != 2:
            raise InputError(None, f"config design interaction {pair['motifs']}: needs two known motif names")
    return planted


def decode(codes: np.ndarray, lower: np.ndarray | None = None) -> str:
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)[codes]
    if lower is not None:
        letters = letters + (lower & (codes < 4)).astype(np.uint8) * 32
    return letters.tobytes().decode("ascii")


def encode(seq: str) -> np.ndarray:
    lookup = np.full(256, GAP, dtype=np.int8)
    for i, base in enumerate(b"ACGT"):
        lookup[base] = i
        lookup[base + 32] = i
    return lookup[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


# ----------------------------------------------------------------------------- MPRA library


@dataclass
class Construct:
    seq_id: str
    codes: np.ndarray  # insert, + orientation
    sites: list[tuple[str, int, str]]
    kind: str
    chrom: str = ""
    start: int = -1


class _SiteIndex:
    """Planted instances per chromosome, in planting order, with their starts and ends as arrays,
    so that finding the sites inside one insert does not scan every instance of the genome."""

    def __init__(self, world: World):
        self.by_chrom: dict[str, list[Instance]] = {}
        for inst in world.instances:
            self.by_chrom.setdefault(inst.chrom, []).append(inst)
        self.bounds = {
            chrom: (
                np.array([i.start for i in insts]),
                np.array([i.start + world.motifs[i.name].motif.length for i in insts]),
            )
            for chrom, insts in self.by_chrom.items()
        }

    def inside(self, chrom: str, start: int, length: int) -> list[tuple[str, int, str]]:
        """(motif name, start within the insert, strand) of every instance wholly inside it."""
        if chrom not in self.bounds:
            return []
        starts, ends = self.bounds[chrom]
        hits = np.flatnonzero((starts >= start) & (ends <= start + length))
        insts = self.by_chrom[chrom]
        return [(insts[i].name, insts[i].start - start, insts[i].strand) for i in hits]


def build_mpra_library(world: World) -> tuple[list[Construct], list[Construct], list[dict]]:
    """Genomic elements, designed (OOD) sequences and single-nucleotide variants."""
    cfg = world.cfg["mpra"]
    rng = world.rng
    insert = cfg["insert_bp"]
    half = insert // 2
    candidates = {
        "enhancer": [
            (c["chrom"], (c["start"] + c["end"]) // 2, c["element"])
            for c in world.ccres
            if c["ccre_class"] in ("dELS", "pELS")
        ],
        "promoter": [
            (p["chrom"], p["tss"] - 50 if p["strand"] == "+" else p["tss"] + 50, p["name"]) for p in world.promoters
        ],
        "random": [(chrom, centre, f"BG_{chrom}_{centre - half}") for chrom, centre in world.background],
    }
    sites = _SiteIndex(world)
    genomic: list[Construct] = []
    for kind, share in sorted(cfg["composition"].items()):  # key order must not matter
        wanted = int(round(cfg["elements"] * share))
        pool = candidates[kind]
        if wanted > len(pool):
            raise InputError(
                None,
                f"config data.synthetic: {wanted} MPRA {kind} elements requested but the genome has "
                f"{len(pool)}; raise genome_scale or lower mpra.elements",
            )
        for i in sorted(rng.choice(len(pool), size=wanted, replace=False)):
            chrom, centre, element = pool[i]
            start = centre - half
            codes = world.seqs[chrom][start : start + insert].copy()
            genomic.append(Construct(element, codes, sites.inside(chrom, start, insert), kind, chrom, start))

    designed: list[Construct] = []
    active = [n for n, pm in world.motifs.items() if pm.program != "insulator"]
    for i in range(cfg["designed"]):
        codes = world.random_bases(insert, 0.55)  # richer in GC and CpG than any genomic background
        taken: list[tuple[int, int]] = []
        sites = []
        for name in rng.choice(active, size=int(rng.integers(4, 9))):
            placed = world.plant(codes, taken, 0, insert, str(name))
            if placed:
                sites.append((str(name), placed[0], placed[1]))
        designed.append(Construct(f"DESIGN_{i + 1:05d}", codes, sites, "designed"))

    test_chroms = set(world.cfg["variant_chromosomes"])
    eligible = [c for c in genomic if c.chrom in test_chroms and c.sites]
    n_variants = min(cfg["variants"], len(eligible))
    variants = []
    for j, i in enumerate(sorted(rng.choice(len(eligible), size=n_variants, replace=False))):
        ref = eligible[i]
        hit = j % 2 == 0
        if hit:  # the most informative base of one planted site, changed to its least likely base
            name, start, strand = ref.sites[int(rng.integers(len(ref.sites)))]
            probs = world.motifs[name].motif.probs
            j_motif = int(np.argmax(probs.max(axis=1)))
            worst = int(np.argmin(probs[j_motif]))
            width = len(probs)
            offset = start + j_motif if strand == "+" else start + width - 1 - j_motif
            alt = worst if strand == "+" else int(_COMP[worst])
            motif_id = world.motifs[name].motif.id
        else:  # a base at least 5 bp from every planted site
            covered = np.zeros(insert, dtype=bool)
            for name, start, _ in ref.sites:
                covered[max(0, start - 5) : start + world.motifs[name].motif.length + 5] = True
            free = np.flatnonzero(~covered)
            if len(free) == 0:
                continue
            offset = int(rng.choice(free))
            alt = int((ref.codes[offset] + rng.integers(1, 4)) % 4)
            motif_id = ""
        if alt == ref.codes[offset]:
            continue
        codes = ref.codes.copy()
        codes[offset] = alt
        ref_base, alt_base = "ACGT"[ref.codes[offset]], "ACGT"[alt]
        seq_id = f"{ref.seq_id}__{offset}{ref_base}>{alt_base}"
        variants.append(
            {
                "construct": Construct(seq_id, codes, ref.sites, "variant", ref.chrom, ref.start),
                "ref_id": ref.seq_id,
                "offset": offset,
                "ref": ref_base,
                "alt": alt_base,
                "hits_motif": hit,
                "motif_id": motif_id,
            }
        )
    return genomic, designed, variants


# --------------------------------------------------------------------------------- writing


def run_simulate(
    cfg: dict,
    *,
    chrom_sizes,
    jaspar_release: str,
    cells: list[str],
    chromosomes: list[str],
    variant_chromosomes: list[str],
    seed: int,
    outdir,
) -> dict:
    """Build the world and write every source file plus the truth into `outdir`."""
    outdir = Path(outdir)
    cfg = dict(cfg, variant_chromosomes=variant_chromosomes, jaspar_release=jaspar_release)
    world = World(cfg, cells, seed, read_sizes(chrom_sizes), chromosomes)
    log.info("building %d chromosomes (genome_scale %g)", len(chromosomes), cfg["genome_scale"])
    world.build_chromosomes()
    genomic, designed, variants = build_mpra_library(world)

    lengths = write_fasta(
        ((c, decode(world.seqs[c], world.lower[c])) for c in chromosomes), outdir / SYNTHETIC_OUTPUTS["genome"]
    )
    log.info("genome: %d bp in %d chromosomes", sum(lengths.values()), len(lengths))
    _write_promoters(world, outdir / SYNTHETIC_OUTPUTS["promoters"])
    _write_ccres(world, outdir / SYNTHETIC_OUTPUTS["ccres"])
    _write_truth_bed(world, outdir / SYNTHETIC_OUTPUTS["truth_motifs"])
    _write_designed_truth(world, designed, outdir / SYNTHETIC_OUTPUTS["truth_designed"])
    summary = _write_mpra(world, genomic, designed, variants, outdir)
    write_table(
        pd.DataFrame(
            [
                {
                    "motif_id": pm.motif.id,
                    "motif_name": name,
                    "tf_family": pm.motif.family or name,
                    "tf_class": pm.motif.tf_class,
                    "program": pm.program,
                    "orientation_sensitive": pm.orientation_sensitive,
                    **{f"effect_{c}": pm.effect[c] for c in cells},
                    "planted_genome": sum(1 for i in world.instances if i.name == name),
                }
                for name, pm in world.motifs.items()
            ]
        ),
        outdir / SYNTHETIC_OUTPUTS["motif_table"],
    )
    summary.update(
        promoters=len(world.promoters),
        ccres=len(world.ccres),
        planted=len(world.instances),
        genome_bp=sum(lengths.values()),
    )
    log.info("simulated: %s", summary)
    return summary


def _write_promoters(world: World, path: Path) -> None:
    """EPDnew BED6: 60-bp interval TSS-49…TSS+10 on the gene's strand, name GENE_1, score 900."""
    rows = []
    for p in world.promoters:
        start = p["tss"] - 49 if p["strand"] == "+" else p["tss"] - 10
        rows.append((p["chrom"], start, start + 60, p["name"], 900, p["strand"]))
    _write_bed(rows, path)


def _write_ccres(world: World, path: Path) -> None:
    rows = []
    order = {c: i for i, c in enumerate(world.chromosomes)}
    for i, c in enumerate(sorted(world.ccres, key=lambda c: (order[c["chrom"]], c["start"]))):
        rows.append((c["chrom"], c["start"], c["end"], f"EH38D{i + 1:07d}", f"EH38E{i + 1:07d}", c["ccre_class"]))
        c["ccre_id"] = f"EH38E{i + 1:07d}"
    _write_bed(rows, path)


def _write_bed(rows, path: Path, header: str | None = None) -> None:
    with atomic_open(path, "w") as out:
        if header:
            out.write(header + "\n")
        for row in rows:
            out.write("\t".join(str(v) for v in row) + "\n")


TRUTH_HEADER = "#" + "\t".join(PLANTED_MOTIF_COLUMNS)


def _write_truth_bed(world: World, path: Path) -> None:
    """Every planted instance; score = 1000 x match strength of the site as written."""
    order = {c: i for i, c in enumerate(world.chromosomes)}
    rows = []
    for inst in sorted(world.instances, key=lambda i: (order[i.chrom], i.start)):
        pm = world.motifs[inst.name]
        end = inst.start + pm.motif.length
        q = pm.strength(world.seqs[inst.chrom][inst.start : end], inst.strand)
        rows.append(
            (
                inst.chrom,
                inst.start,
                end,
                pm.motif.id,
                int(round(1000 * q)),
                inst.strand,
                inst.name,
                pm.motif.family or inst.name,
                inst.element,
                inst.element_type,
            )
        )
    _write_bed(rows, path, TRUTH_HEADER)


def _write_designed_truth(world: World, designed: list[Construct], path: Path) -> None:
    """Planted sites of designed sequences; the 'chromosome' is the sequence ID."""
    rows = []
    for con in designed:
        for name, start, strand in sorted(con.sites, key=lambda s: s[1]):
            pm = world.motifs[name]
            q = pm.strength(con.codes[start : start + pm.motif.length], strand)
            rows.append(
                (
                    con.seq_id,
                    start,
                    start + pm.motif.length,
                    pm.motif.id,
                    int(round(1000 * q)),
                    strand,
                    name,
                    pm.motif.family or name,
                    con.seq_id,
                    "designed",
                )
            )
    _write_bed(rows, path, TRUTH_HEADER)


def _fold(seq_id: str) -> int:
    return 1 + zlib.crc32(seq_id.encode()) % 10


def _write_mpra(world: World, genomic, designed, variants, outdir: Path) -> dict:
    """lentiMPRA-style tables (one per cell, both orientations) and the noise-free truth."""
    cells = world.cells
    design = world.design
    rng = world.rng
    constructs = genomic + designed + [v["construct"] for v in variants]
    variant_refs = {v["ref_id"] for v in variants}
    truth_rows = []
    measured: dict[str, list[dict]] = {c: [] for c in cells}
    missing = {c: rng.random(len(constructs)) < world.cfg["mpra"]["missing_share"][c] for c in cells}
    for idx, con in enumerate(constructs):
        true = {o: world.activity(con.codes, con.sites, o) for o in "+-"}
        truth_rows.append(
            {
                "seq_id": con.seq_id,
                "kind": con.kind,
                **{f"{c}_true": (true["+"][c] + true["-"][c]) / 2 for c in cells},
                **{f"{c}_true_fwd": true["+"][c] for c in cells},
                **{f"{c}_true_rev": true["-"][c] for c in cells},
            }
        )
        plus = decode(con.codes)
        seqs = {"+": plus, "-": decode(_COMP[con.codes[::-1]])}
        for c in cells:
            values = {o: true[o][c] + rng.normal(0.0, design["noise_sd"][c]) for o in "+-"}
            if missing[c][idx] and con.kind != "variant" and con.seq_id not in variant_refs:
                continue
            for o in "+-":
                measured[c].append(
                    {
                        "seq_id": con.seq_id,
                        "chromosome": con.chrom,
                        "start": con.start if con.chrom else "",
                        "end": con.start + len(con.codes) if con.chrom else "",
                        "strand": o,
                        "seq": LENTIMPRA_ADAPTOR_5 + seqs[o] + LENTIMPRA_ADAPTOR_3,
                        "expression": round(values[o], 4),
                        "averaged_expression": round((values["+"] + values["-"]) / 2, 4),
                        "fold": _fold(con.seq_id),
                    }
                )
    for c in cells:
        write_table(pd.DataFrame(measured[c]), outdir / mpra_file(c))
    truth = pd.DataFrame(truth_rows)
    write_table(truth, outdir / SYNTHETIC_OUTPUTS["truth_activity"])

    ceilings = []
    genomic_truth = truth[truth.kind.isin(["enhancer", "promoter", "random"])]
    for c in cells:
        signal_var = float(genomic_truth[f"{c}_true"].var())
        noise_var = design["noise_sd"][c] ** 2 / 2  # mean of two orientations
        ceilings.append(
            {
                "cell": c,
                "noise_sd": design["noise_sd"][c],
                "signal_var": round(signal_var, 6),
                "ceiling_pearson": round(float(np.sqrt(signal_var / (signal_var + noise_var))), 6),
            }
        )
    write_table(pd.DataFrame(ceilings), outdir / SYNTHETIC_OUTPUTS["noise_ceiling"])

    true_by_id = truth.set_index("seq_id")
    rows = []
    for v in variants:
        con = v["construct"]
        rows.append(
            {
                "variant_id": con.seq_id,
                "ref_id": v["ref_id"],
                "chrom": con.chrom,
                "pos": con.start + v["offset"],
                "offset": v["offset"],
                "ref": v["ref"],
                "alt": v["alt"],
                "hits_motif": v["hits_motif"],
                "motif_id": v["motif_id"],
                **{
                    f"{c}_true_delta": round(
                        true_by_id.at[con.seq_id, f"{c}_true"] - true_by_id.at[v["ref_id"], f"{c}_true"], 6
                    )
                    for c in cells
                },
            }
        )
    write_table(pd.DataFrame(rows), outdir / SYNTHETIC_OUTPUTS["truth_variants"])
    return {
        "mpra_genomic": len(genomic),
        "mpra_designed": len(designed),
        "mpra_variants": len(variants),
        "noise_ceiling": {r["cell"]: r["ceiling_pearson"] for r in ceilings},
    }

"""`ich synth ...`: synthetic minority images (Diffusion-UKAN, spec 8): sample, balance, quality,
reader-study, reader-score; and `ich train synth` (registered into the `train` group from here).
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import check_writable, write_json
from ..progress import tqdm_bar
from .common import COUNT, add_device, add_json, add_output, add_progress, emit, int_range, resolve_device


def add_synth_trainer(kinds) -> None:
    """`ich train synth`: the Diffusion-UKAN trainer joins the `train` group."""
    t = kinds.add_parser("synth", help="train the Diffusion-UKAN generator on the minority class of an ROI manifest")
    t.add_argument("--data", required=True, help="ROI manifest.csv (patient_id, scan_id, slice, label, synthetic, path)")
    t.add_argument("--class", dest="cls", default="he", help="minority class to learn (default he: label 1)")
    t.add_argument("--preset", default="seed", help="seed: the paper's recipe (default); smoke: tiny CI run")
    t.add_argument("--epochs", type=COUNT, default=None, help="override the preset's number of epochs")
    t.add_argument("--resume", action="store_true", help="continue from OUTDIR/checkpoint.pt")
    add_device(t)
    add_output(t, "-o", "--output", required=True, help="output folder (checkpoint.pt, model.pt, train.json)", kind="folder")
    add_json(t)
    add_progress(t)
    t.set_defaults(func=run_train)


def run_train(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..synth.train import preset_named, train

    preset = preset_named(args.preset).with_overrides(epochs=args.epochs)
    progress, close = tqdm_bar("training", enabled=not args.no_progress)
    try:
        r = train(args.data, args.output, preset, cls=args.cls, device=resolve_device(args.device), resume=args.resume, progress=progress)
    finally:
        close()
    last = r.history[-1]["loss"] if r.history else None
    payload = {"model": r.model_path, "model_id": r.model_id, "epochs_done": r.epochs_done, "resumed_from_epoch": r.resumed_from_epoch,
               "n_images": r.n_images, "last_loss": last}
    start = f" (resumed at epoch {r.resumed_from_epoch})" if r.resumed_from_epoch else ""
    emit(args, payload, f"trained {r.model_id} on {r.n_images} images to epoch {r.epochs_done}{start}: {r.model_path}  loss {last:.4f}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("synth", help="synthetic minority images: sample, balance, quality, reader study")
    cmds = p.add_subparsers(dest="synth_command", metavar="SUBCOMMAND")
    cmds.required = True

    s = cmds.add_parser("sample", help="draw images from a trained Diffusion-UKAN (PNG + NPY + manifest)")
    s.add_argument("--model", required=True, help="model.pt or the training folder holding it")
    s.add_argument("--n", type=COUNT, required=True, help="number of images")
    s.add_argument("--sampler", default="ddim", choices=["ddpm", "ddim"], help="ddim (default, fast) or ddpm (all training steps)")
    s.add_argument("--steps", type=COUNT, default=None, help="DDIM chain length (default 50); DDPM always walks every training step")
    s.add_argument("--seed", type=int_range(0), default=0, help="image i uses seed + i (default 0)")
    s.add_argument("--batch-size", type=COUNT, default=16)
    add_device(s)
    add_output(s, "-o", "--output", required=True, help="output folder (images/, manifest.csv)", kind="folder")
    s.add_argument("--overwrite", action="store_true", help="replace an existing manifest.csv")
    add_json(s)
    add_progress(s)
    s.set_defaults(func=run_sample)

    b = cmds.add_parser("balance", help="UKAN-Balanced (1:1) / UKAN-Semibalanced (1:2) training manifest")
    b.add_argument("--real", required=True, help="real ROI manifest (a `split` column limits synthetic images to the train rows)")
    b.add_argument("--synthetic", required=True, help="manifest written by `ich synth sample`")
    b.add_argument("--ratio", required=True, help="positives:negatives in training, e.g. 1:1 or 1:2")
    b.add_argument("--seed", type=int_range(0), default=0)
    add_output(b, "-o", "--output", required=True, help="balanced manifest CSV to write", kind="file")
    b.add_argument("--overwrite", action="store_true")
    add_json(b)
    b.set_defaults(func=run_balance)

    q = cmds.add_parser("quality", help="FID / IS (Inception weights from a file) and domain FID / KID (trained HE encoder)")
    q.add_argument("--real", required=True, help="folder of images or manifest (its real rows of --class)")
    q.add_argument("--fake", required=True, help="folder of images or manifest")
    q.add_argument("--inception-weights", default=None, help="torch-fidelity Inception-v3 weights file (.pth); never downloaded")
    q.add_argument("--encoder", default=None, help="trained HE classifier (folder, model.pt or registry id) for a domain FID / KID")
    q.add_argument("--class", dest="cls", default="he", help="class of the manifest rows compared (default he)")
    q.add_argument("--kid-subset-size", type=COUNT, default=None, help="KID subset size (default 1000, capped at the smaller set)")
    add_output(q, "-o", "--output", default=None, help="also write the figures to this JSON file", kind="file")
    q.add_argument("--overwrite", action="store_true")
    add_device(q)
    add_json(q)
    add_progress(q)
    q.set_defaults(func=run_quality)

    r = cmds.add_parser("reader-study", help="anonymised real/synthetic image kit, rater sheets and a separate answer key")
    r.add_argument("--real", required=True, help="real ROI manifest (its real rows of --class)")
    r.add_argument("--synthetic", required=True, help="manifest written by `ich synth sample`")
    r.add_argument("--n-real", type=COUNT, default=100)
    r.add_argument("--n-synthetic", type=COUNT, default=100)
    r.add_argument("--raters", type=COUNT, default=3, help="one scoring sheet per rater (default 3)")
    r.add_argument("--size", type=COUNT, default=256, help="common image size of the kit (default 256)")
    r.add_argument("--class", dest="cls", default="he")
    r.add_argument("--seed", type=int_range(0), default=0)
    add_output(r, "-o", "--output", required=True, help="study folder: kit/ for the raters, answer_key.csv kept apart", kind="folder")
    r.add_argument("--overwrite", action="store_true")
    add_json(r)
    r.set_defaults(func=run_reader_study)

    c = cmds.add_parser("reader-score", help="score filled rater sheets: means, Mann-Whitney U, ICC(2,1), Fleiss' kappa, identification")
    c.add_argument("--key", required=True, help="answer_key.csv of the study")
    c.add_argument("--sheets", required=True, nargs="+", help="filled sheets, one per rater")
    add_output(c, "-o", "--output", required=True, help="JSON file to write", kind="file")
    c.add_argument("--overwrite", action="store_true")
    add_json(c)
    c.set_defaults(func=run_reader_score)


def run_sample(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..synth.sample import SAMPLE_MANIFEST, chain_length, sample_images, write_samples
    from ..synth.train import load_model

    check_writable(Path(args.output) / SAMPLE_MANIFEST, args.overwrite)  # refuse before the slow part
    device = resolve_device(args.device)
    model, meta = load_model(args.model, device)
    steps = chain_length(args.sampler, args.steps, meta["diffusion"].num_train_timesteps)
    progress, close = tqdm_bar("sampling", enabled=not args.no_progress)
    try:
        images = sample_images(model, meta, args.n, sampler=args.sampler, steps=steps, seed=args.seed, batch_size=args.batch_size,
                               device=device, progress=progress)
    finally:
        close()
    manifest = write_samples(images, args.output, meta, sampler=args.sampler, steps=steps, seed=args.seed, overwrite=args.overwrite)
    payload = {"manifest": manifest, "n": args.n, "model_id": meta["model_id"], "sampler": args.sampler, "steps": steps,
               "seeds": [args.seed, args.seed + args.n - 1]}
    emit(args, payload, f"{args.n} synthetic images ({args.sampler}, {steps} steps, seeds {args.seed}..{args.seed + args.n - 1}): {manifest}")
    return 0


def run_balance(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..synth.balance import balanced_manifest

    r = balanced_manifest(args.real, args.synthetic, args.ratio, args.output, seed=args.seed, overwrite=args.overwrite)
    emit(args, r, f"{r['ratio']}: {r['real_positives']} real + {r['synthetic_positives']} synthetic positives, "
                  f"{r['negatives']} negatives in training; {r['held_out']} held-out rows unchanged: {r['manifest']}")
    return 0


def run_quality(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..synth.frechet import KID_SUBSET_SIZE
    from ..synth.quality import quality, require_feature_source

    require_feature_source(args.inception_weights, args.encoder)  # before anything slow
    if args.output:
        check_writable(args.output, args.overwrite)
    progress, close = tqdm_bar("features", enabled=not args.no_progress)
    try:
        r = quality(args.real, args.fake, inception_weights=args.inception_weights, encoder=args.encoder, cls=args.cls,
                    kid_subset_size=args.kid_subset_size or KID_SUBSET_SIZE, device=resolve_device(args.device), progress=progress)
    finally:
        close()
    if args.output:
        write_json(args.output, r)
    lines = [f"{r['n_fake']} synthetic vs {r['n_real']} real images"]
    if "inception" in r:
        i = r["inception"]
        lines.append(f"Inception: FID {i['fid']:.3f}  IS {i['is']:.3f} +- {i['is_std']:.3f} (real {i['is_real']:.3f})  KID {i['kid']:.4f} +- {i['kid_std']:.4f}")
    if "domain" in r:
        d = r["domain"]
        lines.append(f"domain encoder: FID {d['fid']:.3f}  KID {d['kid']:.4f} +- {d['kid_std']:.4f}")
    emit(args, r, "\n".join(lines))
    return 0


def run_reader_study(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..synth.reader import reader_study

    r = reader_study(args.real, args.synthetic, args.output, n_real=args.n_real, n_synthetic=args.n_synthetic, raters=args.raters,
                     seed=args.seed, size=args.size, cls=args.cls, overwrite=args.overwrite)
    emit(args, r, f"kit for {args.raters} rater(s), {args.n_real} real + {args.n_synthetic} synthetic images: {r['kit']}\n"
                  f"answer key (keep it from the raters): {r['key']}")
    return 0


def run_reader_score(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..synth.reader import DIMENSIONS, reader_score

    r = reader_score(args.key, args.sheets, args.output, overwrite=args.overwrite)
    lines = [f"{r['images']} images ({r['real']} real, {r['synthetic']} synthetic), {r['raters']} rater(s)"]
    for dim in DIMENSIONS:
        d = r[dim]
        p = d["mann_whitney"]["p"] if d["mann_whitney"] else float("nan")
        icc = f"{d['icc_2_1']:.3f}" if d["icc_2_1"] is not None else "n/a"
        lines.append(f"{dim}: real {d['real']['mean']:.2f}, synthetic {d['synthetic']['mean']:.2f} (Mann-Whitney p {p:.3g}), ICC(2,1) {icc}")
    calls = r["calls"]
    kappa = f"{calls['fleiss_kappa']:.3f}" if calls["fleiss_kappa"] is not None else "n/a"
    lines.append(f"synthetic correctly identified by majority: {calls['identification']['synthetic']}; Fleiss' kappa {kappa}")
    emit(args, r, "\n".join(lines) + f"\n-> {args.output}")
    return 0

"""``radfound eval``: measure a model the way the field does, with image-blind baselines beside it.

    radfound eval vqa --questions FILE --images DIR [--model DIR] [--json] [--limit N]
    radfound eval report [--model DIR] [--set mammo|ct|slake] [--n N]
    radfound eval grounding [--model DIR] [--limit N]
    radfound eval findings [--model DIR] [--split validate|train] [--json]
    radfound eval retrieval [--model DIR] [--split validate|train] [-k 5] [--json]
    radfound eval ensemble PREDICTIONS PREDICTIONS... [--json]
    radfound eval feedback [--log PATH]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from radfound.config import PRELIMINARY_NOTICE, data_dir

_METRICS = ("overall", "closed_acc", "open_acc", "open_recall", "n")


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a model (VQA accuracy, report metrics, human feedback)")
    sub = p.add_subparsers(dest="eval_command", metavar="WHAT", required=True)

    v = sub.add_parser("vqa", help="VQA accuracy on a VQA-RAD or SLAKE format question file")
    v.add_argument("--questions", required=True, type=Path, help="JSON question file (VQA-RAD or SLAKE format)")
    v.add_argument("--images", required=True, type=Path, help="folder the image names are relative to")
    v.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped radfound-small)")
    v.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    v.add_argument("--lang", default=None, help="only questions in this language (SLAKE q_lang: en, zh)")
    v.add_argument("--split", default="all", choices=("all", "train", "heldout"),
                   help="VQA-RAD image-level split of the file (docs/evaluation.md)")
    v.add_argument("--limit", type=int, default=None, help="first N questions only (after filtering)")
    v.add_argument("--baseline-train", type=Path, default=None,
                   help="question file the baselines are fitted on (default: the dataset's train.json)")
    v.add_argument("--baselines-only", action="store_true", help="skip the model, print the baselines")
    v.add_argument("--free-text", action="store_true",
                   help="answer English closed questions by free generation instead of choosing Yes/No or "
                        "an offered option")
    v.add_argument("--image", default="own", choices=("own", "blank", "other"),
                   help="answer with each question's own image (default), a blank one, or another image of the "
                        "file: how much the model reads the image (docs/evaluation.md)")
    v.add_argument("--predictions", type=Path, default=None, help="write per-question predictions (JSON lines)")
    v.add_argument("--by-type", action="store_true",
                   help="also print closed/open accuracy per question type (VQA-RAD question_type, SLAKE content_type)")
    v.add_argument("--json", action="store_true", help="print one JSON object (by_type is always in it)")
    v.set_defaults(func=run_vqa)

    r = sub.add_parser("report", help="report drafting: phantom finding P/R/F1 and caption metrics")
    r.add_argument("--model", type=Path, default=None)
    r.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    r.add_argument("--set", dest="which", default="mammo", choices=("mammo", "ct", "slake"))
    r.add_argument("--n", type=int, default=100, help="number of phantoms (mammo/ct) or images (slake)")
    r.add_argument("--seed", type=int, default=None, help="phantom seed (default: the evaluation seed)")
    r.add_argument("--views", default="all", choices=("all", "left", "right"),
                   help="mammo only: give the model one breast's views and count drafts about the other")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run_report)

    g = sub.add_parser("grounding", help="share of SLAKE validation organ/lesion boxes found with IoU >= 0.5")
    g.add_argument("--model", type=Path, default=None)
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    g.add_argument("--limit", type=int, default=None, help="first N images only")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=run_grounding)

    c = sub.add_parser("findings", help="chest X-ray drafts: labelled SLAKE diseases named, the disease question, "
                                        "normal images left clear, distinct drafts")
    c.add_argument("--model", type=Path, default=None)
    c.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    c.add_argument("--split", default="validate", choices=("validate", "train"),
                   help="SLAKE question file (validate: images the model never saw)")
    c.add_argument("--examples", type=int, default=5, help="drafts to show")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_findings)

    q = sub.add_parser("retrieval", help="similar cases: recall@k of same-region / modality / disease SLAKE images")
    q.add_argument("--model", type=Path, default=None, help="model folder or name (default: the default model)")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    q.add_argument("--split", default="validate", choices=("validate", "train"), help="SLAKE split (default validate)")
    q.add_argument("-k", type=int, default=5, help="neighbours looked at (default 5)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=run_retrieval)

    e = sub.add_parser("ensemble", help="closed-question accuracy of several models' soft vote, from the "
                                        "predictions files 'eval vqa --predictions' wrote for one question file")
    e.add_argument("predictions", nargs="+", type=Path, help="one predictions file (JSON lines) per model")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=run_ensemble)

    f = sub.add_parser("feedback", help="summarise the radiologists' edit/rating log")
    f.add_argument("--log", type=Path, default=None, help="feedback log (default: RADFOUND_FEEDBACK_LOG or user dir)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run_feedback)


def _progress(label: str):
    def show(i: int, n: int) -> None:
        if sys.stderr.isatty() or i == n or i % 25 == 0:
            print(f"\r{label}: {i}/{n}", end="\n" if i == n else "", file=sys.stderr, flush=True)

    return show


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _table(rows: dict[str, dict]) -> str:
    width = max([16, *(len(name) + 2 for name in rows)])  # a model's full name: a cut one reads like a number
    head = f"{'':<{width}}" + "".join(f"{m:>13}" for m in _METRICS)
    lines = [head]
    for name, m in rows.items():
        lines.append(f"{name:<{width}}" + "".join(f"{_fmt(m.get(k)):>13}" for k in _METRICS))
        for lang, lm in (m.get("by_lang") or {}).items():
            lines.append(f"{'  ' + lang:<{width}}" + "".join(f"{_fmt(lm.get(k)):>13}" for k in _METRICS))
    return "\n".join(lines)


def _intervals(model: dict) -> str:
    """One line: the model's closed accuracy and its gain over the prior, each with its 95% interval."""
    def pct(v):
        return f"{100 * v:.1f}"

    if model.get("closed_acc") is None:
        return "no closed questions"
    line = f"closed accuracy {pct(model['closed_acc'])}%"
    ci = model.get("closed_acc_ci95")
    if ci:
        line += f" (95% interval {pct(ci[0])}-{pct(ci[1])}, images resampled)"
    gain = model.get("closed_gain_over_prior")
    if gain and gain.get("diff") is not None:
        line += f"; {pct(gain['diff'])} points above the question-only prior"
        if gain.get("ci95"):
            line += f" (95% interval {pct(gain['ci95'][0])} to {pct(gain['ci95'][1])})"
    return line


def _type_table(result: dict) -> str:
    """Closed and open accuracy per question type: the model (if run) beside the question prior."""
    prior = ((result.get("baselines") or {}).get("question_prior") or {}).get("by_type") or {}
    model = (result.get("model") or {}).get("by_type") or {}
    types = sorted(set(prior) | set(model))
    if not types:
        return "by question type: the file labels no question types"
    head = (f"{'question type':<16}{'n closed':>9}{'model':>8}{'prior':>8}"
            f"{'n open':>9}{'model':>8}{'prior':>8}   (closed_acc, open_acc)")
    lines = [head]
    for t in types:
        m, p = model.get(t, {}), prior.get(t, {})
        ref = m or p
        lines.append(f"{t[:15]:<16}{ref.get('n_closed', 0):>9}{_fmt(m.get('closed_acc')):>8}"
                     f"{_fmt(p.get('closed_acc')):>8}{ref.get('n_open', 0):>9}{_fmt(m.get('open_acc')):>8}"
                     f"{_fmt(p.get('open_acc')):>8}")
    return "\n".join(lines)


def _default_baseline_train(items) -> Path | None:
    dataset = items[0].dataset if items else ""
    path = data_dir() / ("slake/train.json" if dataset == "slake" else "vqa-rad/train.json")
    return path if path.is_file() else None


def _check_counts(args, *flags: str) -> None:
    """``--limit``/``--n`` must be whole numbers of at least 1: 0 or a negative one would evaluate everything,
    nothing or all but the last few questions without a word."""
    from radfound.errors import ConfigError

    for flag in flags:
        value = getattr(args, flag.lstrip("-"))
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1, not {value}")


def run_vqa(args) -> int:
    from radfound.eval.splits import split_items
    from radfound.eval.vqa_eval import closed_gain, evaluate_model, score_baselines, summarize_baselines
    from radfound.errors import ConfigError
    from radfound.eval.vqa_file import read_vqa_file
    from radfound.outputs.atomic import check_writable_file, write_text_atomic
    from radfound.study.reader import read_study

    _check_counts(args, "--limit")
    if args.predictions:  # refused now, not after the whole run
        check_writable_file(args.predictions)
    items = read_vqa_file(args.questions, args.images, lang=args.lang)
    if args.split != "all" and any(it.dataset == "slake" for it in items):
        raise ConfigError("--split divides VQA-RAD's train file by image; SLAKE has its own train and validate "
                          "files (leave --split at all)", args.questions)
    items = split_items(items, args.split)
    if not items:
        raise ConfigError(f"no questions in the {args.split} part", args.questions)
    items = items[: args.limit]
    result: dict = {"questions": str(args.questions), "split": args.split, "lang": args.lang or "all",
                    "n": len(items)}
    train_file = args.baseline_train or _default_baseline_train(items)
    skipped = "no training question file found (pass --baseline-train)"
    if train_file is not None:
        train_images = train_file.parent / ("imgs" if items and items[0].dataset == "slake" else "images")
        train = read_vqa_file(train_file, train_images if train_images.is_dir() else args.images)
        try:
            baseline_scores, fitted_on = score_baselines(items, train)
        except ConfigError as exc:  # every training image is being evaluated (the whole train file)
            if args.baselines_only or args.baseline_train:
                raise
            train_file, skipped = None, exc.problem
        else:
            result["baselines"] = summarize_baselines(baseline_scores, fitted_on)
            result["baselines"]["train_file"] = str(train_file)
    if train_file is None:
        result["baselines"] = None
        result["note"] = f"baselines skipped: {skipped}"
    if not args.baselines_only:
        from radfound.eval.predictors import ModelPredictor

        from radfound.eval.image_ablation import image_loader

        predictor = ModelPredictor(args.model, device=args.device, closed=not args.free_text)
        load = image_loader(read_study, args.image, [it.image for it in items])
        metrics, rows = evaluate_model(items, predictor, load, progress=_progress("images"))
        closed = "free text" if args.free_text else "Yes/No or an offered option, by probability"
        result["model"] = {"name": predictor.name, "provider": predictor.model.provider, "yes_no": closed,
                           "image": args.image, **metrics}
        if result["baselines"]:
            result["model"]["closed_gain_over_prior"] = closed_gain(items, rows, baseline_scores["question_prior"])
        if args.predictions:
            made_by = {"model": predictor.name}  # name and version: each line says whose answer it is
            write_text_atomic(args.predictions,
                              "".join(json.dumps({**row, **made_by}, ensure_ascii=False) + "\n" for row in rows))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    rows = {}
    if "model" in result:
        rows[result["model"]["name"]] = result["model"]
    for name in ("question_prior", "majority"):
        if result.get("baselines"):
            rows[name] = result["baselines"][name]
    shown = {"own": "", "blank": "; the model saw a blank image", "other": "; the model saw another image"}[args.image]
    print(f"{args.questions} ({args.split}, {result['lang']}{shown}): {result['n']} questions")
    print(_table(rows))
    if args.by_type:
        print(_type_table(result))
    if "model" in result:
        print(_intervals(result["model"]))
        print(PRELIMINARY_NOTICE)
    return 0


def run_report(args) -> int:
    from radfound.errors import ConfigError
    from radfound.eval.predictors import ModelPredictor
    from radfound.eval.report_eval import EVAL_SEED, evaluate_phantoms, evaluate_slake_text

    _check_counts(args, "--n")
    if args.views != "all" and args.which != "mammo":
        raise ConfigError(f"--views {args.views} applies to --set mammo only, not --set {args.which}")
    predictor = ModelPredictor(args.model, device=args.device)
    if args.which in ("mammo", "ct"):
        seed = EVAL_SEED if args.seed is None else args.seed  # --seed 0 is a seed
        result = evaluate_phantoms(args.which, args.n, predictor, seed=seed, progress=_progress(args.which),
                                   side=None if args.views == "all" else args.views)
    else:
        from radfound.study.reader import read_study
        from radfound.training.data.slake_reports import derive_reports
        from radfound.training.data.vqa import slake

        reports = derive_reports(slake("validate"))[: args.n]
        result = {"set": "slake validate (derived captions/reports)", "n": len(reports),
                  **evaluate_slake_text(reports, predictor, read_study, progress=_progress("images"))}
    result["model_name"] = predictor.name
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    if args.which in ("mammo", "ct"):
        m, b = result["model"], result["baseline_normal_report"]
        print(f"{args.which} phantoms (synthetic), n={result['n']}, seed={result['seed']}, views {result['views']}")
        if result["views"] != "all":
            print(f"  drafts that describe the breast not shown: {result['unimaged_side_drafts']}/{result['n']}")
        for level in ("side", "location"):
            ci = m[level].get("f1_ci95")
            span = f" [{ci[0]:.3f}-{ci[1]:.3f}]" if ci else ""
            print(f"  finding {level:<9} P {m[level]['precision']:.3f}  R {m[level]['recall']:.3f}  "
                  f"F1 {m[level]['f1']:.3f}{span}   (all-normal baseline F1 {b[level]['f1']:.3f})")
        print("  [95% interval of F1, phantoms resampled]")
        text = m["text"]
    else:
        text = result["captions"]
        print(f"SLAKE validation captions, n={result['n']}")
    print("  " + "  ".join(f"{k} {_fmt(text[k])}" for k in ("bleu_1", "bleu_2", "bleu_3", "bleu_4",
                                                            "rouge_l", "meteor", "cider")))
    for note in text.get("notes", []):
        print("  note: " + note)
    return 0


def run_findings(args) -> int:
    from radfound.eval.findings_eval import evaluate_findings
    from radfound.eval.predictors import ModelPredictor
    from radfound.study.reader import read_study
    from radfound.training.data.vqa import slake

    predictor = ModelPredictor(args.model, device=args.device)
    result = {"set": f"slake {args.split} chest X-rays", "model_name": predictor.name,
              **evaluate_findings(slake(args.split, lang="en"), slake("train", lang="en"), predictor, read_study,
                                  progress=_progress("images"), examples=args.examples)}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        return 0

    def line(name: str, m: dict) -> str:
        def part(key: str, label: str) -> str:
            v = m[key]
            ci = f" [{v['ci95'][0]:.2f}-{v['ci95'][1]:.2f}]" if v.get("ci95") else ""
            return f"{label} {_fmt(v['value'])}{ci} (n={v['n']})"

        return (f"  {name:<22} " + "  ".join([part("label_recall", "labels named"),
                                              part("disease_question_exact", "disease question"),
                                              part("normal_clear", "normal left clear"),
                                              part("false_mentions_per_abnormal_image", "false mentions")])
                + f"  distinct drafts {m['distinct_drafts']}/{m['images']}")

    print(f"{result['set']}: {result['model']['images']} labelled images ({PRELIMINARY_NOTICE.split(' - ')[0]})")
    print(line(result["model_name"], result["model"]))
    print(line(f"prior ({result['baseline_prior']['answer']})", result["baseline_prior"]))
    print("  [95% intervals, images resampled]")
    for ex in result["examples"]:
        print(f"  {ex['image']}: labels {ex['labels'] or 'normal'} -> {ex['draft']!r} / {ex['disease_answer']!r}")
    return 0


def run_retrieval(args) -> int:
    from radfound.engine import load_model
    from radfound.errors import ConfigError
    from radfound.eval.retrieval_eval import KINDS, evaluate_retrieval
    from radfound.registry.store import resolve_model
    from radfound.similar.embedding import pooled_embedding
    from radfound.study.reader import read_study
    from radfound.training.data.vqa import slake

    if args.k < 1:
        raise ConfigError(f"-k must be at least 1, not {args.k}")
    model = load_model(resolve_model(str(args.model) if args.model else None), device=args.device)
    result = {"set": f"slake {args.split} (English labels), leave-one-out", "model_name": model.name,
              "model_version": model.version,
              **evaluate_retrieval(slake(args.split, lang="en"),
                                   lambda image: pooled_embedding(model.encode(read_study(image)).image_features),
                                   k=args.k, progress=_progress("images"))}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(f"{result['set']}: {result['images']} images, {model.name} {model.version}, recall@{args.k}")
    for kind in KINDS:
        for how in ("search", "centred"):
            m = result[kind][how]
            ci = f" [{m['ci95'][0]:.2f}-{m['ci95'][1]:.2f}]" if m.get("ci95") else ""
            print(f"  same {kind:<9} {how:<10} {_fmt(m['recall'])}{ci}  chance {_fmt(m['chance'])}  (n={m['n']})")
    return 0


def run_grounding(args) -> int:
    from radfound.eval.grounding_eval import evaluate_grounding
    from radfound.eval.predictors import ModelPredictor
    from radfound.study.reader import read_study
    from radfound.training.data.slake_reports import derive_reports
    from radfound.training.data.vqa import slake

    _check_counts(args, "--limit")
    predictor = ModelPredictor(args.model, device=args.device)
    reports = [r for r in derive_reports(slake("validate")) if r.boxes][: args.limit]
    result = {"set": "slake validate detection.json", "images": len(reports), "model_name": predictor.name,
              **evaluate_grounding(reports, predictor, read_study, progress=_progress("images"))}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        ci = result.get("found_iou_0.5_ci95")
        span = f" (95% interval {ci[0]:.3f}-{ci[1]:.3f}, images resampled)" if ci else ""
        print(f"SLAKE validation grounding: {result['boxes']} boxes on {result['images']} images: "
              f"IoU>=0.5 {_fmt(result['found_iou_0.5'])}{span}, mean best IoU {_fmt(result['mean_best_iou'])}")
    return 0


def run_ensemble(args) -> int:
    from radfound.eval.ensemble import combine

    result = combine(args.predictions)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    n = result["n"]
    print(f"closed questions answered by probability in every file: {n}")
    print("  closed  (right/n)  vs the first model, 95% interval (images resampled)")
    for m in result["models"][:1]:
        print(f"  {m['closed_acc']:.3f}  ({m['correct']}/{n})  {'':<26}{m['predictions']}")
    for m in result["models"][1:]:
        print(f"  {m['closed_acc']:.3f}  ({m['correct']}/{n})  {_versus(m['vs_first']):<26}{m['predictions']}")
    e, a = result["ensemble"], result["agreement"]
    print(f"  {e['closed_acc']:.3f}  ({e['correct']}/{n})  {_versus(e['vs_first']):<26}"
          f"soft vote of all {len(result['models'])}")
    print(f"agreement: all right {a['all_right']}, all wrong {a['all_wrong']}, split {a['split']}")
    return 0


def _versus(d: dict) -> str:
    ci = d.get("ci95") or [d["diff"], d["diff"]]
    return f"{100 * d['diff']:+.1f} ({100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})"


def run_feedback(args) -> int:
    from radfound.feedback import summarize

    summary = summarize(args.log)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0

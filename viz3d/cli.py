"""The ``viz3d`` command: a thin layer over the public API.

Examples
--------
``viz3d summary sample:resnet --depth 2``
``viz3d trace sample:gpt2 -o gpt2.json``
``viz3d render sample:resnet -o resnet.png resnet.html``
``viz3d render sample:resnet -o resnet.svg resnet.pdf`` (flat diagrams, Graphviz)
``viz3d movie sample:resnet -o pass.mp4 --forward-pass --seconds 8``
``viz3d landscape sample:mlp --data digits -o land.png land.mp4``
``viz3d llm attention path/to/gpt2 --text "Hello world" --layer 0 -o attn.png``
``viz3d features sample:digits-cnn --view concepts --digits 16 -o concepts.png concepts.html``
``viz3d summary hf:gpt2 --config n_layer=2,n_embd=64 --input-shape 1,32``
``viz3d compare base/ tuned/ -o diff.png diff.json`` (what changed between two models)
``viz3d render gpt2.json -o gpt2.png`` (a graph saved by ``viz3d trace``)

Exit status: 0 done; 1 the model failed (a partial graph, or ``--strict`` and a failing
forward); 2 unusable usage or input, with one ``viz3d: error: ...`` line that says what to do;
130 interrupted (Ctrl-C). Output paths are checked before any model is built, and a command
that fails or is interrupted leaves no half-written file.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from viz3d.errors import RenderError, SpecError, TraceError, Viz3dError


def _shape(text: str) -> list[tuple[int, ...]] | tuple[int, ...]:
    """``"1,3,32,32"`` -> one shape; ``"1,16;1,16"`` -> several inputs."""
    try:
        shapes = [tuple(int(d) for d in part.split(",")) for part in text.split(";")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad shape {text!r}: use e.g. 1,3,32,32") from exc
    return shapes[0] if len(shapes) == 1 else shapes


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec",
        help="sample:<name>, pkg.module:Factory, file.py:Factory (runs that file), an HF "
        "model directory, or hf:<arch> (see 'viz3d samples'); summary, trace, render, show "
        "and movie also take a graph .json saved by 'viz3d trace'",
    )
    parser.add_argument(
        "--input-shape",
        type=_shape,
        help="input shape, e.g. 1,3,32,32 "
        "(several inputs: 1,16;1,16); default: the sample's, or guessed",
    )
    parser.add_argument("--device", help="device to build and run the model on (cpu, cuda, meta)")
    parser.add_argument(
        "--config", help="HF config overrides for hf:<arch>, e.g. n_layer=2,n_embd=64"
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail instead of keeping a partial graph"
    )


def _either(options: Sequence[str]) -> str:
    """``[".a", ".b", ".c"]`` -> ``".a, .b or .c"``."""
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"


def _outputs(paths: Sequence[str], extensions: Sequence[str] | None) -> list[Path]:
    """Check the files a command will write, before any model is built or traced.

    Every command calls this first, so a bad path fails at once and the same way everywhere:
    the extension must be one of ``extensions`` (``None``: any), the target must not be a
    folder, and its folder must exist or be creatable, and be writable. Missing folders are
    made just before writing (:func:`_ready`).
    """
    checked = []
    for text in paths:
        path = Path(text)
        if extensions is not None and path.suffix.lower() not in extensions:
            raise SpecError(f"cannot write {path}: use {_either(extensions)}")
        if path.is_dir():
            raise SpecError(f"cannot write {path}: it is a folder; name a file inside it")
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise SpecError(
                f"cannot write {path}: {folder} is a file, not a folder; choose another path"
            )
        try:  # a real probe: permission bits say nothing on read-only mounts or as root
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise SpecError(
                f"cannot write {path}: folder {folder} is not writable ({exc.strerror}); "
                "choose another folder"
            ) from exc
        if path.exists() and not os.access(path, os.W_OK):
            raise SpecError(f"cannot write {path}: the file is read-only; choose another name")
        checked.append(path)
    return checked


def _ready(path: Path) -> Path:
    """``path`` with its missing folders made (:func:`_outputs` checked that they can be)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _need_display(instead: str) -> None:
    """Fail before any work when no window can open, saying what to do ``instead``."""
    from viz3d.render import default_off_screen

    if default_off_screen():
        why = (
            "off-screen rendering is forced (PYVISTA_OFF_SCREEN)"
            if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            else "there is no display (DISPLAY is not set)"
        )
        raise RenderError(f"cannot open a window: {why}; {instead}")


def _traced(args: argparse.Namespace):
    """The graph a spec names: a saved graph file as it is, any other spec traced."""
    from viz3d.spec import load_graph_spec, resolve_spec
    from viz3d.trace import trace

    graph = load_graph_spec(args.spec)
    if graph is not None:
        flags = {
            "--input-shape": args.input_shape,
            "--device": args.device,
            "--config": args.config,
        }
        given = [flag for flag, value in flags.items() if value]
        if given:
            raise SpecError(
                f"{args.spec} is a saved graph, already traced: drop {', '.join(given)} "
                "(they apply when a model is traced), or pass the model's spec instead"
            )
        if args.strict and graph.partial:
            raise TraceError(f"{args.spec} holds a partial graph (--strict): {graph.error}")
        return graph
    resolved = resolve_spec(args.spec, device=args.device, config=args.config)
    shape = args.input_shape or resolved.input_shape
    return trace(resolved.model, input_shape=shape, device=resolved.device, strict=args.strict)


def _cmd_summary(args: argparse.Namespace) -> int:
    graph = _traced(args)
    if args.fold:
        graph = graph.fold_repeats()
    print(graph.summary(depth=args.depth, max_rows=args.max_rows))
    return 1 if graph.partial else 0


def _cmd_trace(args: argparse.Namespace) -> int:
    (output,) = _outputs([args.output], (".json",))
    graph = _traced(args)
    if args.depth is not None:
        graph = graph.collapse(args.depth)
    path = graph.to_json(_ready(output))
    print(f"{graph!r}\nwrote {path}")
    if graph.partial:
        logging.getLogger("viz3d").warning("partial graph: %s", graph.error)
    return 1 if graph.partial else 0


#: Largest frame side accepted (VTK's usual render target limit).
_MAX_SIDE = 16384


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"bad size {text!r}: use WIDTHxHEIGHT, e.g. 1280x720"
        ) from exc
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise argparse.ArgumentTypeError(
            f"bad size {text!r}: width and height must be 1 to {_MAX_SIDE} pixels, e.g. 1280x720"
        )
    return width, height


def _add_view_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--depth",
        type=int,
        help="collapse modules deeper than this (default: "
        "op level if it fits, else the deepest depth that does)",
    )
    parser.add_argument(
        "--color-by", default="activation", choices=["activation", "params", "flops", "type"]
    )
    parser.add_argument("--size-by", default="params", choices=["params", "flops"])
    parser.add_argument(
        "--no-fold", dest="fold", action="store_false", help="expand repeated blocks"
    )
    parser.add_argument(
        "--expand",
        action="append",
        default=[],
        metavar="MODULE",
        help="show this module one level deeper in the 3D scene (NAME.* : every op inside); "
        "repeatable",
    )
    parser.add_argument(
        "--feature-maps",
        action="store_true",
        help="show each convolution's first 4 activation maps for the traced input as "
        "textured tiles on its box (needs real weights: not meta, not a saved graph)",
    )


def _scene(args: argparse.Namespace, graph=None):
    """The scene of ``graph`` (default: traced from ``args``); a partial graph is logged once."""
    from viz3d.api import enhanced_3d_visualization

    if args.feature_maps:
        return _feature_scene(args)
    graph = _traced(args) if graph is None else graph
    return enhanced_3d_visualization(graph, **_view_options(args), show=False)


def _view_options(args: argparse.Namespace) -> dict[str, Any]:
    """What the view flags (:func:`_add_view_args`) ask of ``enhanced_3d_visualization``."""
    return {
        "depth": args.depth,
        "color_by": args.color_by,
        "size_by": args.size_by,
        "fold": args.fold,
        "expand": args.expand,
    }


def _feature_scene(args: argparse.Namespace):
    """The scene with activation maps: the model is traced again here, recording them."""
    from viz3d.api import enhanced_3d_visualization
    from viz3d.spec import load_graph_spec

    if load_graph_spec(args.spec) is not None:
        raise SpecError(
            f"{args.spec} is a saved graph: it keeps no activation maps; pass the model's spec "
            "to use --feature-maps"
        )
    resolved = _resolve_with_values(args, "feature maps")
    return enhanced_3d_visualization(
        resolved.model,
        input_shape=args.input_shape or resolved.input_shape,
        device=resolved.device,
        strict=args.strict,
        **_view_options(args),
        feature_maps=True,
        show=False,
    )


_WRITERS = {
    ".png": lambda scene, path, size: scene.screenshot(path, window_size=size),
    ".html": lambda scene, path, size: scene.export_html(path),
    ".gltf": lambda scene, path, size: scene.export_gltf(path),
    ".vtm": lambda scene, path, size: scene.export_vtk(path),
}


# flat Graphviz diagrams: drawn from the traced graph alone, no 3D scene is built for them
_DIAGRAMS = (".svg", ".pdf", ".dot")


def _write_scene(scene: Any, paths: Sequence[Path], window_size: tuple[int, int]) -> None:
    """Write ``scene`` to each path (checked by :func:`_outputs`) by its extension."""
    for path in paths:
        _WRITERS[path.suffix.lower()](scene, _ready(path), window_size)
        print(f"wrote {path}")


def _cmd_render(args: argparse.Namespace) -> int:
    from viz3d.diagram import write_diagram

    outputs = _outputs(args.output, (*_WRITERS, *_DIAGRAMS))
    graph = _traced(args)
    graph.expand_depths(args.expand)  # a misspelt module fails before anything is drawn
    scenes = [p for p in outputs if p.suffix.lower() not in _DIAGRAMS]
    if scenes:
        _write_scene(_scene(args, graph), scenes, args.window_size)
    elif graph.partial:
        logging.getLogger("viz3d").warning("partial graph: %s", graph.error)
    for path in outputs:
        if path not in scenes:
            write_diagram(
                graph, _ready(path), depth=args.depth, fold=args.fold, color_by=args.color_by
            )
            print(f"wrote {path}")
    return 1 if graph.partial else 0


def _cmd_show(args: argparse.Namespace) -> int:
    _need_display(
        f"write the scene to a file instead: viz3d render {args.spec} -o scene.html "
        "(opens in a browser) or -o scene.png"
    )
    graph = _traced(args)
    _scene(args, graph).show(window_size=args.window_size)
    return 1 if graph.partial else 0


def _first_tensor(output: Any):
    """The first tensor of a model output (a tensor, a tuple/list, a dict or a ModelOutput)."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if isinstance(output, dict) else output
    return next(v for v in values if isinstance(v, torch.Tensor))


def _resolve_with_values(args: argparse.Namespace, purpose: str):
    """Build the model, refusing one on ``meta`` (shapes, no values) - before building if known."""
    from viz3d.spec import planned_device, resolve_spec

    def refuse() -> SpecError:
        return SpecError(
            f"{args.spec} is on the meta device (shapes only, no weight values), so {purpose} "
            "cannot be computed: pass --device cpu to build it with real random weights (if "
            "they fit in memory), or use a smaller model"
        )

    if planned_device(args.spec, args.device) == "meta":
        raise refuse()
    resolved = resolve_spec(args.spec, device=args.device, config=args.config)
    if any(p.is_meta for p in resolved.model.parameters()):
        raise refuse()
    return resolved


def _cmd_gradients(args: argparse.Namespace) -> int:
    import torch

    from viz3d.gradients import gradient_flow
    from viz3d.trace.inputs import prepare_inputs

    outputs = _outputs(args.output, tuple(_WRITERS))
    (chart,) = _outputs([args.chart], (".png", ".svg", ".pdf")) if args.chart else (None,)
    resolved = _resolve_with_values(args, "gradients")
    model = resolved.model.train()
    inputs, _kwargs = prepare_inputs(
        model, None, args.input_shape or resolved.input_shape, None, torch.device(resolved.device)
    )

    def loss(output):
        logits = _first_tensor(output)
        if args.target_class is None:
            return logits.float().pow(2).mean()
        flat = logits.reshape(-1, logits.shape[-1])
        target = torch.full((flat.shape[0],), args.target_class, device=flat.device)
        return torch.nn.functional.cross_entropy(flat, target)

    flow = gradient_flow(model, inputs[0] if len(inputs) == 1 else inputs, loss_fn=loss)
    flags = {
        **dict.fromkeys(flow.vanishing, "VANISHING"),
        **dict.fromkeys(flow.exploding, "EXPLODING"),
    }
    width = max(len(n) for n in flow.grad_norms)
    for name, norm in flow.grad_norms.items():
        print(f"{name:<{width}}  {norm:10.3e}  {flags.get(name, '')}")
    print(f"rule: {flow.rule}")
    if chart is not None:
        flow.plot(_ready(chart))
        print(f"wrote {chart}")
    if outputs:
        _write_scene(flow.render(depth=args.depth, show=False), outputs, args.window_size)
    return 0


#: 2D figures of the feature views (matplotlib)
_FIGURES = (".png", ".svg", ".pdf")


def _channel_list(text: str) -> list[int]:
    try:
        return [int(c) for c in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad channels {text!r}: use e.g. 0,1,2") from exc


def _cmd_features(args: argparse.Namespace) -> int:
    import viz3d
    from viz3d.features.images import fit_images, load_image

    outputs = _outputs(args.output, (*_FIGURES, *_WRITERS))
    resolved = _resolve_with_values(args, "feature views")
    model = resolved.model
    shape = args.input_shape or resolved.input_shape
    channels, size = (shape[1], shape[2:]) if shape and len(shape) == 4 else (None, None)
    if args.image:
        images = load_image(args.image, channels, size)
    else:
        from viz3d.zoo import digits

        count = args.digits or (8 if args.view == "concepts" else 1)
        images = fit_images(digits(images=True)[0][:count], channels, size)
    images = images.to(resolved.device)
    layer = args.layer[0] if args.layer else None
    if args.view == "maps":
        result = viz3d.feature_maps(model, images[0], args.layer)
        save = {"k": args.k or 16}
    elif args.view == "optimize":
        result = viz3d.feature_visualization(
            model,
            layer or "output",
            args.channels,
            steps=args.steps,
            size=tuple(images.shape[-2:]),
            in_channels=images.shape[1],
            seed=args.seed,
        )
        save = {}
    else:
        result = viz3d.deep_feature_factorization(model, images, layer, k=args.k or 4)
        save = {}
    scenes = [
        p
        for p in outputs
        if p.suffix.lower() not in _FIGURES or (args.three_d and p.suffix.lower() == ".png")
    ]
    for path in outputs:
        if path not in scenes:
            result.save(_ready(path), **save)
            print(f"wrote {path}")
    if scenes:
        _write_scene(result.render(show=False), scenes, args.window_size)
    return 0


def _cmd_movie(args: argparse.Namespace) -> int:
    from viz3d.render.pyvista.movie import CODECS, movie_from_args

    (output,) = _outputs([args.output], tuple(CODECS))
    graph = _traced(args)
    path = movie_from_args(
        _scene(args, graph),
        _ready(output),
        args.kind,
        args.seconds,
        args.fps,
        args.window_size,
        workers=args.workers,
    )
    print(f"wrote {path}")
    return 1 if graph.partial else 0


_NPZ_HELP = "use 'digits' or an .npz with arrays 'inputs' and 'targets' (numpy.savez)"


def _read_npz(source: str):
    """The ``inputs`` and ``targets`` arrays of an ``.npz`` file, or a SpecError saying why not."""
    import zipfile

    import numpy as np

    path = Path(source)
    if not path.is_file():
        raise SpecError(f"--data {source}: no such file; {_NPZ_HELP}")
    if not zipfile.is_zipfile(path):  # np.load would take it for a pickle and advise unpickling
        raise SpecError(f"--data {source} is not an .npz archive; {_NPZ_HELP}")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if not {"inputs", "targets"} <= set(arrays.files):
                raise SpecError(
                    f"--data {source} holds arrays {sorted(arrays.files)}, not 'inputs' and "
                    f"'targets'; {_NPZ_HELP}"
                )
            return arrays["inputs"], arrays["targets"]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise SpecError(
            f"--data {source} cannot be read safely ({exc.__class__.__name__}: object arrays "
            f"or a damaged file); save plain numeric arrays with numpy.savez"
        ) from exc


def _landscape_data(args: argparse.Namespace, model: Any, shape: tuple[int, ...] | None):
    """``(inputs, targets)`` from ``--data``, checked against one forward of ``model``."""
    import torch

    if args.data == "digits":
        from viz3d.zoo import digits

        inputs, targets = digits(images=shape is not None and len(shape) == 4)
    else:
        inputs, targets = (torch.as_tensor(a) for a in _read_npz(args.data))
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    # numpy saves float64 by default: run the data at the model's precision
    inputs, targets = (t.to(dtype) if t.is_floating_point() else t for t in (inputs, targets))
    _check_data(model, inputs, targets, args.data)
    return inputs, targets


def _check_data(model: Any, inputs: Any, targets: Any, source: str) -> None:
    """Refuse data the loss cannot use, naming the mismatch (before the grid is computed)."""
    import torch

    if len(inputs) != len(targets) or len(inputs) == 0:
        raise SpecError(
            f"--data {source}: {len(inputs)} inputs but {len(targets)} targets; "
            "give one target per input"
        )
    if targets.dtype == torch.bool or targets.is_complex():
        raise SpecError(f"--data {source}: targets must be class ids (integers) or floats")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    try:
        with torch.no_grad():
            out = _first_tensor(model(inputs[:2].to(device)))
    except Exception as exc:
        raise SpecError(
            f"--data {source}: the model cannot run on inputs of shape "
            f"{list(inputs.shape)} ({type(exc).__name__}: {exc}); give inputs the model takes"
        ) from exc
    if targets.is_floating_point():
        if tuple(out.shape[1:]) != tuple(targets.shape[1:]):
            raise SpecError(
                f"--data {source}: float targets (MSE loss) of shape {list(targets.shape)} do "
                f"not match the model's outputs {list(out.shape)}; give one target per output"
            )
        return
    classes = out.shape[1] if out.ndim >= 2 else 0
    low, high = int(targets.min()), int(targets.max())
    if classes == 0 or low < 0 or high >= classes:
        raise SpecError(
            f"--data {source}: integer targets are class ids for a cross-entropy loss and must "
            f"lie in 0..{classes - 1} (the model gives {classes} scores), but they span "
            f"{low}..{high}; fix the targets, or save float targets for an MSE loss"
        )


def _cmd_landscape(args: argparse.Namespace) -> int:
    import torch

    from viz3d.landscape import loss_landscape
    from viz3d.render.pyvista.movie import CODECS

    outputs = _outputs(args.output, (*_WRITERS, *CODECS))
    if args.store:
        _outputs([args.store], None)
    resolved = _resolve_with_values(args, "a loss landscape")
    inputs, targets = _landscape_data(
        args, resolved.model, args.input_shape or resolved.input_shape
    )
    floating = targets.is_floating_point()
    loss_fn = torch.nn.MSELoss() if floating else torch.nn.CrossEntropyLoss()
    landscape = loss_landscape(
        resolved.model,
        loss_fn,
        (inputs, targets),
        dims=args.dims,
        steps=args.steps,
        span=args.span,
        directions=args.directions,
        store=args.store,
    )
    point, value = landscape.minimum
    print(
        f"{type(loss_fn).__name__}: centre {landscape.center_loss:.5g}, minimum {value:.5g} at "
        f"{tuple(round(c, 3) for c in point)}"
    )
    movies = [path for path in outputs if path.suffix.lower() in CODECS]
    for path in movies:
        landscape.movie(
            _ready(path), scale=args.scale, window_size=args.window_size, seconds=args.seconds
        )
        print(f"wrote {path}")
    scenes = [path for path in outputs if path not in movies]
    if scenes:
        _write_scene(landscape.render(scale=args.scale), scenes, args.window_size)
    return 0


def _token_ids(text: str) -> list[int]:
    """``"10,20"`` -> ``[10, 20]``."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"bad token ids {text!r}: use integers separated by commas, e.g. 10,20,30"
        ) from exc


def _tokens(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """How the view gets its tokens: ``--ids`` as given, or ``--text`` and a saved tokenizer."""
    from viz3d.errors import InputError
    from viz3d.llm.inputs import load_tokenizer

    if args.ids is not None:
        embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
        size = getattr(embed, "num_embeddings", None)
        outside = [i for i in args.ids if size is not None and not 0 <= i < size]
        if outside:
            raise SpecError(
                f"--ids: token id {outside[0]} is outside the vocabulary of {args.model} "
                f"(ids 0 to {size - 1}); pass ids from that range"
            )
        return {"input_ids": args.ids}
    try:
        return {"tokenizer": load_tokenizer(model)}
    except InputError as exc:
        raise SpecError(
            f"{args.model} has no tokenizer saved beside it, so --text cannot be tokenized: "
            "pass token ids instead (--ids 10,20,30), or a model directory that holds "
            "its tokenizer (tokenizer.save_pretrained(dir))"
        ) from exc


def _cmd_llm(args: argparse.Namespace) -> int:
    from viz3d import llm
    from viz3d.spec import resolve_spec

    outputs = _outputs(args.output, tuple(_WRITERS))
    if not outputs and args.view != "summary":
        _need_display(f"write the view to a file instead: add -o {args.view}.html (or .png)")
    if args.view != "summary" and (args.text is None) == (args.ids is None):
        raise SpecError(
            f"the {args.view} view needs --text (tokenized by the tokenizer saved with the "
            "model) or --ids with token ids, e.g. --ids 10,20,30; give one of them"
        )
    model = resolve_spec(args.model, device=args.device, config=args.config).model
    if args.view == "summary":
        print(llm.model_summary(model))
        return 0
    common = {"show": False, **_tokens(args, model)}
    views = {
        "activations": lambda: llm.plot_token_activations(model, args.text, **common),
        "attention": lambda: llm.plot_attention(
            model,
            args.text,
            layer=args.layer,
            head=args.head,
            stack_layers=args.stack_layers,
            **common,
        ),
        "embeddings": lambda: llm.plot_token_embeddings(
            model, args.text, layer=args.layer_embeddings, method=args.method, **common
        ),
        "saliency": lambda: llm.plot_gradients(
            model,
            args.text,
            **common,
            target=(int(args.target) if args.target and args.target.isdigit() else args.target),
        ),
    }
    scene = views[args.view]()
    _write_scene(scene, outputs, args.window_size)
    if not outputs:
        scene.show(window_size=args.window_size)
    return 0


def _compared(spec: str, args: argparse.Namespace) -> Any:
    """A model for ``viz3d compare``: safetensors weights stay on disk (read one tensor at a
    time), any other spec is built."""
    from viz3d.spec import resolve_spec

    path = Path(spec)
    weights_only = path.is_dir() and (args.weights_only or not (path / "config.json").is_file())
    if path.suffix == ".safetensors" or (weights_only and any(path.glob("*.safetensors"))):
        return path
    return resolve_spec(spec, device=args.device, config=args.config).model


def _cmd_compare(args: argparse.Namespace) -> int:
    from viz3d.compare import compare

    outputs = _outputs(args.output, (*_WRITERS, ".json"))
    model_a, model_b = _compared(args.spec_a, args), _compared(args.spec_b, args)
    diff = compare(model_a, model_b, input_shape=args.input_shape)
    print(diff.summary(max_rows=args.max_rows))
    scenes = [p for p in outputs if p.suffix.lower() != ".json"]
    if scenes:
        scene = diff.render(args.color_by, side_by_side=args.side_by_side, depth=args.depth)
        _write_scene(scene, scenes, args.window_size)
    for path in outputs:
        if path not in scenes:
            diff.to_json(_ready(path))
            print(f"wrote {path}")
    return 0


def _cmd_samples(args: argparse.Namespace) -> int:
    from viz3d.zoo import SAMPLES

    for name, sample in SAMPLES.items():
        shape = ",".join(map(str, sample.input_shape))
        print(f"sample:{name:<12} input {shape:<12} {sample.device:<5} {sample.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``viz3d`` command."""
    parser = argparse.ArgumentParser(prog="viz3d", description="3D views of PyTorch models.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="print the layer table (name, type, shape, params, FLOPs)")
    _add_model_args(p)
    p.add_argument("--depth", type=int, help="collapse modules deeper than this")
    p.add_argument(
        "--no-fold", dest="fold", action="store_false", help="do not fold repeated blocks"
    )
    p.add_argument("--max-rows", type=int, default=200, help="shorten longer tables (default 200)")
    p.set_defaults(run=_cmd_summary)

    p = sub.add_parser("trace", help="trace a model and write its LayerGraph as JSON")
    _add_model_args(p)
    p.add_argument("-o", "--output", required=True, help="JSON file to write")
    p.add_argument("--depth", type=int, help="collapse modules deeper than this before writing")
    p.set_defaults(run=_cmd_trace)

    p = sub.add_parser(
        "render",
        help="render the 3D scene to PNG pictures or HTML/glTF/VTK files, or draw a flat "
        "SVG/PDF/DOT diagram",
    )
    _add_model_args(p)
    _add_view_args(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        nargs="+",
        help="files to write, by extension: .png, .html (opens in any browser), .gltf, .vtm; "
        ".svg, .pdf, .dot: flat Graphviz diagram of the module graph",
    )
    p.add_argument(
        "--window-size", type=_size, default=(1280, 720), help="PNG size (default 1280x720)"
    )
    p.set_defaults(run=_cmd_render)

    p = sub.add_parser("show", help="open the 3D scene in an interactive window")
    _add_model_args(p)
    _add_view_args(p)
    p.add_argument("--window-size", type=_size, default=(1280, 720))
    p.set_defaults(run=_cmd_show)

    p = sub.add_parser("movie", help="write an orbit, fly-through or forward-pass video (MP4/GIF)")
    _add_model_args(p)
    _add_view_args(p)
    p.add_argument("-o", "--output", required=True, help=".mp4 (H.264) or .gif, written atomically")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--orbit", dest="kind", action="store_const", const="orbit", help="(default)")
    kind.add_argument("--flythrough", dest="kind", action="store_const", const="flythrough")
    kind.add_argument("--forward-pass", dest="kind", action="store_const", const="forward-pass")
    p.set_defaults(kind="orbit")
    p.add_argument(
        "--seconds", type=float, help="length (default: 10 for orbits, by model size otherwise)"
    )
    p.add_argument("--fps", type=int, default=30)
    p.add_argument(
        "--window-size", type=_size, default=(1920, 1080), help="frame size (default 1920x1080)"
    )
    p.add_argument("--workers", type=int, help="render in this many processes")
    p.set_defaults(run=_cmd_movie)

    p = sub.add_parser(
        "landscape", help="loss landscape around a model: surface picture, scene or video"
    )
    _add_model_args(p)
    p.add_argument(
        "--data",
        default="digits",
        help="'digits' (scikit-learn's bundled 8x8 digits) or "
        "an .npz with arrays 'inputs' and 'targets' (integer targets: cross-entropy, else MSE)",
    )
    p.add_argument(
        "-o", "--output", nargs="+", required=True, help=".png, .html, .gltf, .vtm, .mp4 or .gif"
    )
    p.add_argument("--dims", type=int, default=2, choices=[1, 2])
    p.add_argument("--steps", type=int, default=51)
    p.add_argument("--span", type=float, default=1.0)
    p.add_argument(
        "--directions", default="filter", choices=["filter", "layer", "model", "hessian"]
    )
    p.add_argument("--scale", default="linear", choices=["linear", "log"])
    p.add_argument("--store", help="npz file to store points in as they finish (resumable)")
    p.add_argument("--seconds", type=float, default=10, help="video length")
    p.add_argument("--window-size", type=_size, default=(1280, 720))
    p.set_defaults(run=_cmd_landscape)

    p = sub.add_parser("llm", help="transformer views of a Hugging Face model directory (or spec)")
    p.add_argument(
        "view", choices=["summary", "activations", "attention", "embeddings", "saliency"]
    )
    p.add_argument("model", help="a saved HF model directory (tokenizer beside it), or any spec")
    p.add_argument("--text", help="the text to run through the model")
    p.add_argument(
        "--ids",
        type=_token_ids,
        help="token ids to run instead of --text, e.g. 10,20,30 (no tokenizer needed)",
    )
    p.add_argument(
        "-o", "--output", nargs="*", default=[], help=".png/.html/.gltf/.vtm (else a window)"
    )
    p.add_argument("--layer", type=int, default=0, help="attention layer")
    p.add_argument("--head", type=int, help="attention head (default: all heads of the layer)")
    p.add_argument("--stack-layers", action="store_true", help="attention through all layers")
    p.add_argument(
        "--layer-embeddings",
        type=int,
        help="embeddings: hidden states of this layer (default: the input embedding table)",
    )
    p.add_argument("--method", default="pca", choices=["pca", "tsne"])
    p.add_argument("--target", help="saliency: a next token (string or id); default: the LM loss")
    p.add_argument("--config", help="HF config overrides for hf:<arch> specs, e.g. n_layer=2")
    p.add_argument("--device")
    p.add_argument("--window-size", type=_size, default=(1280, 720))
    p.set_defaults(run=_cmd_llm)

    p = sub.add_parser(
        "gradients", help="gradient flow of a backward pass: table, 3D picture, 2D chart"
    )
    _add_model_args(p)
    p.add_argument(
        "-o", "--output", nargs="*", default=[], help="3D scene files (.png, .html, .gltf, .vtm)"
    )
    p.add_argument("--chart", help="also write the 2D chart of gradient norms per layer (PNG)")
    p.add_argument(
        "--target-class",
        type=int,
        help="loss = cross-entropy against this class "
        "(default: the mean square of the output, a stand-in when no data is given)",
    )
    p.add_argument("--depth", type=int, help="collapse modules deeper than this in the 3D scene")
    p.add_argument("--window-size", type=_size, default=(1280, 720))
    p.set_defaults(run=_cmd_gradients)

    p = sub.add_parser(
        "features",
        help="what a CNN sees: feature maps, activation maximisation, concepts (deep feature "
        "factorisation)",
    )
    _add_model_args(p)
    p.add_argument(
        "--view",
        default="maps",
        choices=["maps", "optimize", "concepts"],
        help="maps: activations per layer; optimize: inputs maximising channels or classes; "
        "concepts: NMF of a layer across images (default: maps)",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--image", help="a picture (PNG/JPEG), resized to the model's input")
    source.add_argument(
        "--digits",
        type=int,
        metavar="N",
        help="the first N of scikit-learn's bundled 8x8 digits (the default input: 1, or 8 for "
        "concepts)",
    )
    p.add_argument(
        "--layer",
        action="append",
        help="module name (repeat for maps); default: every Conv2d for maps, the class logits "
        "('output') for optimize, the last Conv2d for concepts",
    )
    p.add_argument(
        "--channels",
        type=_channel_list,
        default=list(range(8)),
        help="optimize: channels of --layer, or classes, e.g. 0,3,7 (default 0..7)",
    )
    p.add_argument(
        "-k", type=int, help="maps: channels per layer in the figure (16); concepts: concepts (4)"
    )
    p.add_argument("--steps", type=int, default=256, help="optimize: optimisation steps")
    p.add_argument("--seed", type=int, default=0, help="optimize: random seed")
    p.add_argument(
        "-o",
        "--output",
        nargs="+",
        required=True,
        help=".png/.svg/.pdf: the 2D figure; .html/.gltf/.vtm: the 3D scene",
    )
    p.add_argument(
        "--3d", dest="three_d", action="store_true", help="write .png as the 3D scene instead"
    )
    p.add_argument("--window-size", type=_size, default=(1280, 720))
    p.set_defaults(run=_cmd_features)

    p = sub.add_parser(
        "compare", help="what changed between two models: structure, weights, activations"
    )
    p.add_argument("spec_a", help="the base model: any spec, or safetensors weights")
    p.add_argument("spec_b", help="the changed model: any spec, or safetensors weights")
    p.add_argument(
        "--input-shape",
        type=_shape,
        help="random inputs of this shape for both models: compares activations (CKA) too",
    )
    p.add_argument("--device", help="device to build both models on (cpu, cuda, meta)")
    p.add_argument("--config", help="HF config overrides for hf:<arch> specs")
    p.add_argument(
        "--weights-only",
        action="store_true",
        help="read HF model folders as safetensors weights, one tensor at a time (no model "
        "is built: for checkpoints too big to load twice)",
    )
    p.add_argument(
        "-o", "--output", nargs="*", default=[], help="files to write: .png/.html/.gltf/.vtm "
        "(the diff drawn on model B) or .json (the diff, reloadable)",
    )  # fmt: skip
    p.add_argument(
        "--color-by", default="weight_change", choices=["weight_change", "cka", "status"]
    )
    p.add_argument("--side-by-side", action="store_true", help="draw model A above B, linked")
    p.add_argument("--depth", type=int, help="collapse modules deeper than this in the picture")
    p.add_argument("--max-rows", type=int, default=200, help="shorten longer tables (default 200)")
    p.add_argument("--window-size", type=_size, default=(1280, 720))
    p.set_defaults(run=_cmd_compare)

    p = sub.add_parser("samples", help="list the built-in sample models")
    p.set_defaults(run=_cmd_samples)
    return parser


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Print viz3d's logged warnings as ``viz3d: warning: ...`` lines while a command runs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("viz3d: warning: %(message)s"))
    logger = logging.getLogger("viz3d")
    logger.addHandler(handler)
    # a movie stopped before its first frame is discarded whole (written atomically), so
    # imageio-ffmpeg's warning that its temporary file is invalid is noise here
    encoder = logging.getLogger("imageio_ffmpeg")
    encoder.addFilter(_not_about_empty_video)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        encoder.removeFilter(_not_about_empty_video)


def _not_about_empty_video(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("No frames have been written")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``viz3d`` console script; returns the exit status.

    0 done; 1 the model failed (partial graph, ``--strict``); 2 usage or input error (one
    ``viz3d: error:`` line); 130 interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        with _warnings_to_stderr():
            return args.run(args)
    except Viz3dError as exc:
        print(f"viz3d: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        # after the terminal's "^C" when there is one; a log gets the line alone
        start = "\n" if sys.stderr.isatty() else ""
        print(f"{start}viz3d: interrupted; unfinished files were not written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

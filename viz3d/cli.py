"""The ``viz3d`` command: a thin layer over the public API.

Examples
--------
``viz3d summary sample:resnet --depth 2``
``viz3d trace sample:gpt2 -o gpt2.json``
``viz3d render sample:resnet -o resnet.png resnet.html``
``viz3d movie sample:resnet -o pass.mp4 --forward-pass --seconds 8``
``viz3d landscape sample:mlp --data digits -o land.png land.mp4``
``viz3d llm attention path/to/gpt2 --text "Hello world" --layer 0 -o attn.png``
``viz3d summary hf:gpt2 --config n_layer=2,n_embd=64 --input-shape 1,32``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from viz3d.errors import SpecError, Viz3dError


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
        help="sample:<name>, pkg.module:Factory, file.py:Factory, an HF "
        "model directory, or hf:<arch> (see 'viz3d samples')",
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


def _traced(args: argparse.Namespace):
    from viz3d.spec import resolve_spec
    from viz3d.trace import trace

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
    graph = _traced(args)
    if args.depth is not None:
        graph = graph.collapse(args.depth)
    path = graph.to_json(args.output)
    print(f"{graph!r}\nwrote {path}")
    if graph.partial:
        print(f"warning: partial graph: {graph.error}", file=sys.stderr)
    return 1 if graph.partial else 0


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"bad size {text!r}: use WIDTHxHEIGHT, e.g. 1280x720"
        ) from exc
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


def _scene(args: argparse.Namespace):
    from viz3d.api import enhanced_3d_visualization

    graph = _traced(args)
    if graph.partial:
        print(f"warning: partial graph: {graph.error}", file=sys.stderr)
    return enhanced_3d_visualization(
        graph,
        depth=args.depth,
        color_by=args.color_by,
        size_by=args.size_by,
        fold=args.fold,
        show=False,
    )


_WRITERS = {
    ".png": lambda scene, path, size: scene.screenshot(path, window_size=size),
    ".html": lambda scene, path, size: scene.export_html(path),
    ".gltf": lambda scene, path, size: scene.export_gltf(path),
    ".vtm": lambda scene, path, size: scene.export_vtk(path),
}


def _cmd_render(args: argparse.Namespace) -> int:
    from pathlib import Path

    outputs = [Path(o) for o in args.output]
    unknown = [str(o) for o in outputs if o.suffix.lower() not in _WRITERS]
    if unknown:
        raise SpecError(f"cannot write {', '.join(unknown)}: use .png, .html, .gltf or .vtm")
    scene = _scene(args)
    for path in outputs:
        _WRITERS[path.suffix.lower()](scene, path, args.window_size)
        print(f"wrote {path}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    _scene(args).show(window_size=args.window_size)
    return 0


def _cmd_gradients(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from viz3d.gradients import gradient_flow
    from viz3d.spec import resolve_spec
    from viz3d.trace.inputs import prepare_inputs

    outputs = [Path(o) for o in args.output]
    unknown = [str(o) for o in outputs if o.suffix.lower() not in _WRITERS]
    if unknown:
        raise SpecError(f"cannot write {', '.join(unknown)}: use .png, .html, .gltf or .vtm")
    resolved = resolve_spec(args.spec, device=args.device, config=args.config)
    if resolved.device == "meta":
        raise SpecError(f"{args.spec} lives on meta (no values, no gradients): pass --device cpu")
    model = resolved.model.train()
    inputs, _kwargs = prepare_inputs(
        model, None, args.input_shape or resolved.input_shape, None, torch.device(resolved.device)
    )

    def first_tensor(output):
        return (
            output
            if isinstance(output, torch.Tensor)
            else next(
                v
                for v in (output.values() if isinstance(output, dict) else output)
                if isinstance(v, torch.Tensor)
            )
        )

    def loss(output):
        logits = first_tensor(output)
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
    if args.chart:
        flow.plot(args.chart)
        print(f"wrote {args.chart}")
    if outputs:
        scene = flow.render(depth=args.depth, show=False)
        for path in outputs:
            _WRITERS[path.suffix.lower()](scene, path, args.window_size)
            print(f"wrote {path}")
    return 0


def _cmd_movie(args: argparse.Namespace) -> int:
    from viz3d.render.movie import movie_from_args

    scene = _scene(args)
    path = movie_from_args(
        scene,
        args.output,
        args.kind,
        args.seconds,
        args.fps,
        args.window_size,
        workers=args.workers,
    )
    print(f"wrote {path}")
    return 0


def _landscape_data(args: argparse.Namespace, shape: tuple[int, ...] | None):
    import numpy as np
    import torch

    if args.data == "digits":
        from viz3d.zoo import digits

        return digits(images=shape is not None and len(shape) == 4)
    try:
        with np.load(args.data, allow_pickle=False) as arrays:
            return torch.as_tensor(arrays["inputs"]), torch.as_tensor(arrays["targets"])
    except (OSError, KeyError, ValueError) as exc:
        raise SpecError(
            f"--data {args.data}: need 'digits' or an .npz with arrays 'inputs' and "
            f"'targets' ({exc})"
        ) from exc


def _cmd_landscape(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from viz3d.landscape import loss_landscape
    from viz3d.spec import resolve_spec

    outputs = [Path(o) for o in args.output]
    unknown = [str(o) for o in outputs if o.suffix.lower() not in {*_WRITERS, ".mp4", ".gif"}]
    if unknown:
        raise SpecError(
            f"cannot write {', '.join(unknown)}: use .png, .html, .gltf, .vtm, .mp4 or .gif"
        )
    resolved = resolve_spec(args.spec, device=args.device, config=args.config)
    inputs, targets = _landscape_data(args, args.input_shape or resolved.input_shape)
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
    for path in outputs:
        if path.suffix.lower() in (".mp4", ".gif"):
            landscape.movie(
                path, scale=args.scale, window_size=args.window_size, seconds=args.seconds
            )
        else:
            _WRITERS[path.suffix.lower()](
                landscape.render(scale=args.scale), path, args.window_size
            )
        print(f"wrote {path}")
    return 0


def _cmd_llm(args: argparse.Namespace) -> int:
    from pathlib import Path

    from viz3d import llm
    from viz3d.spec import resolve_spec

    outputs = [Path(o) for o in args.output]
    unknown = [str(o) for o in outputs if o.suffix.lower() not in _WRITERS]
    if unknown:
        raise SpecError(f"cannot write {', '.join(unknown)}: use .png, .html, .gltf or .vtm")
    model = resolve_spec(args.model, device=args.device).model
    if args.view == "summary":
        print(llm.model_summary(model))
        return 0
    if args.text is None:
        raise SpecError(f"the {args.view} view needs --text")
    common = {"show": False}
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
    for path in outputs:
        _WRITERS[path.suffix.lower()](scene, path, args.window_size)
        print(f"wrote {path}")
    if not outputs:
        scene.show(window_size=args.window_size)
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

    p = sub.add_parser("render", help="render the 3D scene to PNG pictures or HTML/glTF/VTK files")
    _add_model_args(p)
    _add_view_args(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        nargs="+",
        help="files to write, by extension: .png, .html (opens in any browser), .gltf, .vtm",
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

    p = sub.add_parser("samples", help="list the built-in sample models")
    p.set_defaults(run=_cmd_samples)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``viz3d`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except Viz3dError as exc:
        print(f"viz3d: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
